"""Walk what the user names on `kb ingest` (folders, files, .tar.gz archives) into source files.

Only reading happens here. Every problem with one file becomes a ``Problem`` for the summary,
never an exception that stops the walk.
"""

from __future__ import annotations

import gzip
import io
import os
import posixpath
import tarfile
import zlib
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Folders whose name is part of the published path (docs trees), kept in source paths.
TREE_ROOTS = ("windows-driver-docs-pr", "wdk-ddi-src")
# Files we may have a parser for; everything else is passed over silently (images, .yml TOCs are decided later).
INGEST_SUFFIXES = (".md", ".txt", ".yml", ".yaml", ".json", ".json.gz", ".xml", ".mbox", ".wds", ".ps1", ".cmd")
SKIP_DIRS = {".git", "node_modules", "__pycache__", ".venv"}
MAX_FILE_BYTES = 20 * 1024 * 1024


@dataclass
class SourceFile:
    """One file to ingest: its stable path key, where it came from, and how to read it."""

    origin: str
    path: str
    size: int
    read: Callable[[], bytes]


@dataclass
class Problem:
    """A file (or a whole source) that could not be read or parsed."""

    path: str
    problem: str


def wanted(name: str) -> bool:
    """True for file names whose suffix some parser may handle."""
    lower = name.lower()
    return lower.endswith(INGEST_SUFFIXES) or lower == "mbox"


def _dir_prefix(root: Path) -> str:
    return root.name + "/" if root.name in TREE_ROOTS else ""


def gunzip(data: bytes, limit: int = MAX_FILE_BYTES) -> bytes:
    """Decompress gzip data of at most ``limit`` bytes.

    Raises:
        OSError: corrupt or truncated gzip data, or more than ``limit`` bytes once decompressed.
    """
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as fh:
            out = fh.read(limit + 1)
    except (OSError, EOFError, zlib.error) as exc:  # zlib.error and EOFError are not OSErrors
        raise OSError(f"corrupt or truncated gzip data ({exc})") from None
    if len(out) > limit:
        raise OSError(f"file too large once decompressed (over {limit} bytes)")
    return out


def _too_large(size: int) -> str:
    return f"file too large ({size} bytes, limit {MAX_FILE_BYTES}): split it into smaller files"


def _read_file(path: Path) -> Callable[[], bytes]:
    def read() -> bytes:
        data = path.read_bytes()
        return gunzip(data) if path.name.endswith(".gz") else data
    return read


def walk_dir(root: Path, problems: list[Problem]) -> Iterator[SourceFile]:
    """Files under ``root`` (symlinks are not followed, so loops cannot trap the walk)."""
    origin = str(root.resolve())
    prefix = _dir_prefix(root.resolve())

    def on_error(err: OSError) -> None:
        problems.append(Problem(str(err.filename), f"cannot read folder: {err.strerror}"))

    for folder, dirs, files in os.walk(root, onerror=on_error, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for name in dirs:
            if (Path(folder) / name).is_symlink():  # os.walk would skip it silently
                rel_dir = prefix + (Path(folder) / name).relative_to(root).as_posix()
                problems.append(Problem(rel_dir, "symbolic link to a folder: not followed"))
        for name in sorted(files):
            if not wanted(name):
                continue
            full = Path(folder) / name
            rel = prefix + full.relative_to(root).as_posix()
            if full.is_symlink():
                problems.append(Problem(rel, "symbolic link: not followed"))
                continue
            try:
                size = full.stat().st_size
            except OSError as exc:
                problems.append(Problem(rel, f"cannot read file: {exc.strerror}"))
                continue
            if size > MAX_FILE_BYTES:
                problems.append(Problem(rel, _too_large(size)))
                continue
            yield SourceFile(origin, rel, size, _read_file(full))


def _safe_member_name(name: str) -> str | None:
    norm = posixpath.normpath(name.replace("\\", "/"))
    if norm.startswith(("/", "../")) or norm == ".." or ":" in norm.split("/")[0]:
        return None
    return norm


def walk_tar(archive: Path, problems: list[Problem]) -> Iterator[SourceFile]:
    """Regular files inside a .tar.gz (read in one streaming pass; unsafe names are reported)."""
    origin = str(archive.resolve())
    try:
        # "r:*" would try every compression and report all four failures on four lines
        mode = "r:gz" if archive.name.lower().endswith((".gz", ".tgz")) else "r:*"
        with tarfile.open(archive, mode) as tar:
            for member in tar:
                if not member.isfile():
                    if member.issym() or member.islnk():
                        problems.append(Problem(f"{archive.name}:{member.name}", "link inside archive: skipped"))
                    continue
                name = _safe_member_name(member.name)
                if name is None:
                    problems.append(Problem(f"{archive.name}:{member.name}", "unsafe path inside archive: skipped"))
                    continue
                if not wanted(name):
                    continue
                if member.size > MAX_FILE_BYTES:
                    problems.append(Problem(name, _too_large(member.size)))
                    continue
                fh = tar.extractfile(member)
                data = fh.read() if fh else b""
                if name.endswith(".gz"):
                    try:
                        data = gunzip(data)
                    except OSError as exc:
                        problems.append(Problem(name, str(exc)))
                        continue
                yield SourceFile(origin, name, len(data), lambda d=data: d)
    except (tarfile.TarError, OSError, EOFError) as exc:
        problems.append(Problem(str(archive), f"corrupt or truncated archive: {exc}"))


def is_archive(path: Path) -> bool:
    """True for .tar.gz / .tgz / .tar files."""
    name = path.name.lower()
    return name.endswith((".tar.gz", ".tgz", ".tar"))


def walk(source: Path, problems: list[Problem]) -> Iterator[SourceFile]:
    """All source files one `kb ingest` argument stands for.

    Args:
        source: a folder, an archive or a single file.
        problems: receives a ``Problem`` for anything that cannot be read.

    Returns:
        An iterator of ``SourceFile``.
    """
    if not source.exists() and not source.is_symlink():
        problems.append(Problem(str(source), "no such file or folder"))
        return
    if source.is_dir():
        yield from walk_dir(source, problems)
    elif is_archive(source):
        yield from walk_tar(source, problems)
    else:
        try:
            size = source.stat().st_size
        except OSError as exc:
            problems.append(Problem(str(source), f"cannot read file: {exc.strerror}"))
            return
        if size > MAX_FILE_BYTES:
            problems.append(Problem(str(source), _too_large(size)))
            return
        yield SourceFile(str(source.resolve()), source.name.removesuffix(".gz") if source.name.endswith(".json.gz")
                         else source.name, size, _read_file(source))
