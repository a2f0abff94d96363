"""Shared fixtures: corpus location, temporary stores and a fast fake embedder."""

from __future__ import annotations

import os
from pathlib import Path

import hypothesis.database  # noqa: F401  imported now: importing it at session end after the model ran crashed
import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


def corpus_dir() -> Path:
    """Where the shared corpus lives (KB_CORPUS_DIR, default ../shared/corpus)."""
    return Path(os.environ.get("KB_CORPUS_DIR") or ROOT.parent / "shared" / "corpus")


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The shared corpus folder; skips the test with the reason when it is absent."""
    path = corpus_dir()
    if not (path / "README.md").exists():
        pytest.skip(f"shared corpus not found at {path} (set KB_CORPUS_DIR to its folder)")
    return path


@pytest.fixture(scope="session")
def seeds(corpus: Path) -> Path:
    return corpus / "seeds"
