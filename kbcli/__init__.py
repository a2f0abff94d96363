"""The `kb` command line: a thin click layer over kb/ and ingest/."""

from __future__ import annotations

from kbcli.main import cli

__all__ = ["cli"]
