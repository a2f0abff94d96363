"""Bench sources: the default corpus, staging copies and subsets to ingest, and editing one staged page."""

from __future__ import annotations

import os
import shutil
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kb.app import KB
from kb.sources import is_archive
from kb.sources import wanted


def default_sources(corpus_dir: Path) -> list[Path]:
    """The full shared corpus: docs and API reference tarballs, the seeds and the samples catalog."""
    names = ("windows-driver-docs.tar.gz", "windows-driver-docs-ddi.tar.gz", "seeds", "driver-samples.json.gz")
    return [corpus_dir / name for name in names]


def _safe(name: str) -> str | None:
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    return None if not parts or ".." in parts or name.startswith("/") else "/".join(parts)


def stage_sources(sources: Sequence[Path], dest: Path, limit: int | None = None,
                  include: set[str] | frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """Copy folders (so a page can be changed later) and, with ``limit``, subsets of archives, into ``dest``.

    Path keys stay those of the originals: an archive subset is extracted to a folder whose walk gives the
    member names back. Single files and whole archives (no limit) are used in place.

    Args:
        sources: folders, archives and files.
        dest: empty work folder.
        limit: files per folder or archive (None: all).
        include: path keys always taken past the limit (the dev set's gold pages).

    Returns:
        ``[{"source", "staged", "files"}]`` with ``staged`` the path to ingest.
    """
    out = []
    for n, source in enumerate(sources):
        source = Path(source)
        target = dest / f"{n}" / source.name
        if source.is_dir():
            files = 0
            for folder, dirs, names in os.walk(source):
                dirs.sort()
                for name in sorted(names):
                    rel = (Path(folder) / name).relative_to(source)
                    if not wanted(name) or (limit is not None and files >= limit
                                             and f"{source.name}/{rel.as_posix()}" not in include):
                        continue
                    (target / rel).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(Path(folder) / name, target / rel)
                    files += 1
            out.append({"source": str(source), "staged": str(target), "files": files})
        elif is_archive(source) and limit is not None:
            root, files, tops = dest / f"{n}" / "x", 0, set()
            with tarfile.open(source, "r:*") as tar:
                for member in tar:
                    name = _safe(member.name)
                    if not member.isfile() or name is None or not wanted(name):
                        continue
                    if files >= limit and name not in include:
                        continue
                    fh = tar.extractfile(member)
                    (root / name).parent.mkdir(parents=True, exist_ok=True)
                    (root / name).write_bytes(fh.read() if fh else b"")
                    tops.add(name.split("/", 1)[0])
                    files += 1
            # One tree root (windows-driver-docs-pr, wdk-ddi-src) keeps its name as the path prefix.
            staged = root / tops.pop() if len(tops) == 1 else root
            out.append({"source": str(source), "staged": str(staged), "files": files})
        else:
            out.append({"source": str(source), "staged": str(source), "files": 1})
    return out


def change_one_page(staged: Sequence[dict[str, Any]], kb: KB) -> str | None:
    """Edit the smallest page (with pairs) of the first staged folder; returns its path key, or None."""
    for item in staged:
        root = Path(item["staged"])
        if not root.is_dir() or item["staged"] == item["source"]:
            continue
        prefix = root.name + "/" if root.name in ("windows-driver-docs-pr", "wdk-ddi-src") else ""
        counts = dict(kb.db.execute("SELECT source, count(*) FROM pairs GROUP BY source").fetchall())
        files = sorted((p for p in root.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
        for path in files:
            key = prefix + path.relative_to(root).as_posix()
            if counts.get(key) and not path.name.endswith(".gz"):
                answer = kb.db.execute("SELECT answer FROM pairs WHERE source = ? ORDER BY position LIMIT 1",
                                       [key]).fetchone()[0]
                text = path.read_text(errors="replace")
                snippet = next((w for w in answer.split() if len(w) > 6 and w in text), None)
                edited = text.replace(snippet, snippet + " (edited)", 1) if snippet else text + "\nEdited.\n"
                path.write_text(edited)
                return key
    return None
