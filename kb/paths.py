"""Learning paths (data/paths/*.yml): ordered onboarding steps that point at KB entries, samples and scripts."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kb.errors import NotFound
from kb.errors import ParseError

DEFAULT_FOLDER = Path(__file__).resolve().parent.parent / "data" / "paths"
LEVELS = ("beginner", "intermediate", "advanced")
MIN_STEPS = 8
MAX_STEPS = 15
MAX_ENTRIES = 3

_ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_STEP_TEXT = ("title", "learn", "why", "check", "check_answer")


@dataclass(frozen=True)
class Step:
    """One step of a path: what to learn, why now, where to read, what to try, and a self-check."""

    id: str
    title: str
    learn: str
    why: str
    entries: tuple[str, ...]  # stable refs `<source path>#<anchor>`
    sample: str  # a path in the samples catalog, e.g. general/echo/kmdf
    script: str  # a script id: a file name in data/scripts/ without its extension
    check: str
    check_answer: str


@dataclass(frozen=True)
class LearningPath:
    """A titled, ordered list of steps from basics to advanced."""

    id: str
    order: int
    title: str
    summary: str
    level: str
    topics: tuple[str, ...]
    steps: tuple[Step, ...]
    source: str = ""

    def step(self, step_id: str) -> Step:
        """The step with this id.

        Raises:
            NotFound: the path has no such step.
        """
        for s in self.steps:
            if s.id == step_id:
                return s
        raise NotFound(f"path {self.id!r} has no step {step_id!r}; steps: {', '.join(s.id for s in self.steps)}")


def parse_path(text: str, source: str = "path.yml") -> LearningPath:
    """Build one LearningPath from the YAML text of a path file.

    Args:
        text: the YAML document.
        source: file name used in error messages.

    Returns:
        The LearningPath.

    Raises:
        ParseError: invalid YAML or a missing/malformed field; the message names the file and the step.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ParseError(f"{source}: invalid YAML ({exc}); fix the syntax") from None
    if not isinstance(data, dict):
        raise ParseError(f"{source}: expected a mapping with id, order, title, summary, level, topics and steps")
    path_id = _ident(data.get("id"), f"{source}: `id`")
    order = data.get("order")
    if not isinstance(order, int) or isinstance(order, bool):
        raise ParseError(f"{source}: `order` must be an integer (paths are listed by it)")
    level = data.get("level")
    if level not in LEVELS:
        raise ParseError(f"{source}: `level` must be one of {', '.join(LEVELS)}, got {level!r}")
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not MIN_STEPS <= len(raw_steps) <= MAX_STEPS:
        count = len(raw_steps) if isinstance(raw_steps, list) else 0
        raise ParseError(f"{source}: `steps` needs {MIN_STEPS} to {MAX_STEPS} steps, got {count}")
    steps = []
    seen: set[str] = set()
    for n, raw in enumerate(raw_steps, 1):
        step = _step(raw, f"{source} step {n}")
        if step.id in seen:
            raise ParseError(f"{source} step {n}: step id {step.id!r} is used twice; make it unique")
        seen.add(step.id)
        steps.append(step)
    return LearningPath(
        id=path_id,
        order=order,
        title=_text(data.get("title"), f"{source}: `title`"),
        summary=_text(data.get("summary"), f"{source}: `summary`"),
        level=level,
        topics=tuple(_str_list(data.get("topics"), f"{source}: `topics`", required=True)),
        steps=tuple(steps),
        source=source,
    )


def load_paths(folder: str | Path | None = None) -> list[LearningPath]:
    """Load every path file (``*.yml``) of a folder, ordered by their ``order`` field.

    Args:
        folder: the folder; defaults to data/paths in the project.

    Returns:
        The paths, lowest ``order`` first (ties by id). Cached until a file in the folder changes.

    Raises:
        ParseError: a file is invalid, or two files share a path id.
    """
    root = Path(folder) if folder else DEFAULT_FOLDER
    files = sorted(root.glob("*.yml"))
    stamp = tuple((f.name, f.stat().st_mtime_ns) for f in files)
    return list(_load_cached(str(root.resolve()), stamp))


@functools.lru_cache(maxsize=8)
def _load_cached(folder: str, stamp: tuple[tuple[str, int], ...]) -> tuple[LearningPath, ...]:
    # `stamp` (names and mtimes) is part of the cache key so edited or added files are read again.
    paths: dict[str, LearningPath] = {}
    for name, _mtime in stamp:
        file = Path(folder) / name
        path = parse_path(file.read_text(encoding="utf-8"), source=file.name)
        if path.id in paths:
            raise ParseError(f"{file.name}: path id {path.id!r} is also used by {paths[path.id].source}; rename one")
        paths[path.id] = path
    return tuple(sorted(paths.values(), key=lambda p: (p.order, p.id)))


def get_path(path_id: str, folder: str | Path | None = None) -> LearningPath:
    """One learning path by id.

    Raises:
        NotFound: no path has that id.
    """
    paths = load_paths(folder)
    for path in paths:
        if path.id == path_id:
            return path
    raise NotFound(f"no learning path {path_id!r}; known paths: {', '.join(p.id for p in paths)}")


def references(folder: str | Path | None = None) -> list[tuple[str, str, str]]:
    """Every entry ref, sample path and script id the paths use, for `kb check-content` to resolve.

    Returns:
        ``(where, kind, value)`` tuples; ``where`` is ``data/paths/<file>#<step id>`` and ``kind`` is
        ``"ref"`` (a ``<source path>#<anchor>``), ``"sample"`` (a catalog path) or ``"script"`` (a script id).
    """
    out: list[tuple[str, str, str]] = []
    for path in load_paths(folder):
        for step in path.steps:
            where = f"data/paths/{path.source}#{step.id}"
            out.extend((where, "ref", ref) for ref in step.entries)
            out.append((where, "sample", step.sample))
            out.append((where, "script", step.script))
    return out


# --- helpers ------------------------------------------------------------------------------------------------


def _step(raw: Any, where: str) -> Step:
    if not isinstance(raw, dict):
        raise ParseError(f"{where}: expected a mapping with id, {', '.join(_STEP_TEXT)}, entries, sample, script")
    step_id = _ident(raw.get("id"), f"{where}: `id`")
    where = f"{where} ({step_id})"
    texts = {key: _text(raw.get(key), f"{where}: `{key}`") for key in _STEP_TEXT}
    entries = _str_list(raw.get("entries"), f"{where}: `entries`", required=True)
    if len(entries) > MAX_ENTRIES:
        raise ParseError(f"{where}: `entries` has {len(entries)} refs; keep the best {MAX_ENTRIES}")
    for ref in entries:
        if "#" not in ref or ref.startswith("#") or ref.endswith("#"):
            raise ParseError(f"{where}: entry {ref!r} must look like `<source path>#<anchor>`")
    return Step(
        id=step_id,
        entries=tuple(entries),
        sample=_text(raw.get("sample"), f"{where}: `sample`"),
        script=_ident(raw.get("script"), f"{where}: `script`"),
        **texts,
    )


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ParseError(f"{where} is missing or empty")
    return " ".join(value.split())


def _ident(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise ParseError(f"{where} must be lowercase words joined by '-', got {value!r}")
    return value


def _str_list(value: Any, where: str, required: bool = False) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if value is None:
        value = []
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ParseError(f"{where} must be a list of non-empty strings")
    if required and not value:
        raise ParseError(f"{where} needs at least one item")
    return [v.strip() for v in value]
