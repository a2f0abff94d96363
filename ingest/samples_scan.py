"""Scan a checkout of microsoft/Windows-driver-samples into Sample records (this module reads files)."""

from __future__ import annotations

import os
import re
from collections.abc import Collection
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from ingest.sample_readme import split_front_matter
from ingest.samples_catalog import blob_base
from ingest.samples_catalog import tree_url
from kb.models import Sample

FALLBACK_DDIS = Path(__file__).resolve().parent.parent / "data" / "ddi_fallback.txt"
MAX_PLACES = 5
SOURCE_EXTS = frozenset({".c", ".cpp", ".cxx", ".cc", ".h", ".hpp", ".hxx", ".inl"})
INF_EXTS = frozenset({".inf", ".inx"})
# Folders that hold build output or tooling state, never sample sources.
SKIP_DIRS = frozenset({".git", ".vs", ".github", "x64", "arm64", "win32", "arm", "debug", "release", "obj"})
# Top-level folders of the samples repository; two of them plus .sln files mean "this is a clone".
CATEGORIES = frozenset(
    {"audio", "avstream", "bluetooth", "filesys", "general", "gpio", "hid", "input", "network", "nfc",
     "pofx", "print", "serial", "setup", "storage", "usb", "video", "wmi", "sensors", "spb", "thermal"}
)

_DRIVER_TYPE = re.compile(r"<DriverType>\s*([A-Za-z]+)\s*</DriverType>", re.I)
_CONFIG_TYPE = re.compile(r"<ConfigurationType>\s*([A-Za-z]+)\s*</ConfigurationType>", re.I)
_TARGET_NAME = re.compile(r"<TargetName>\s*([^<$]+?)\s*</TargetName>", re.I)
_FRAMEWORK = re.compile(r"<(KMDF|UMDF)_VERSION_MAJOR>\s*\d", re.I)
_INF_SECTION = re.compile(r"^\s*\[([^\]]+)\]")
_INF_CLASS = re.compile(r"^\s*Class\s*=\s*([^;\r\n]+)", re.I)
# Comments and string/char literals, blanked before looking for identifiers (newlines kept for line numbers).
_C_NOISE = re.compile(r"//[^\n]*|/\*.*?\*/|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'", re.S)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HEADING = re.compile(r"^#[ \t]+(.+?)[ \t]*#*[ \t]*$", re.M)


@lru_cache(maxsize=1)
def fallback_ddis() -> frozenset[str]:
    """Common DDI names to match when the API reference is not ingested.

    Returns:
        The names in data/ddi_fallback.txt (derived once from the samples catalog's ``ddi_calls``).

    Raises:
        FileNotFoundError: the data file is missing from the project checkout.
    """
    text = FALLBACK_DDIS.read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def _read(path: Path) -> str:
    data = path.read_bytes()
    # INF files are often UTF-16 with a BOM.
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16", errors="replace")
    return data.decode("utf-8", errors="replace")


def _git_remote_is_samples(root: Path) -> bool:
    config = root / ".git" / "config"
    try:
        return "windows-driver-samples" in config.read_text(encoding="utf-8", errors="replace").lower()
    except OSError:
        return False


def is_samples_clone(path: Path | str) -> bool:
    """Guess whether a folder is a checkout of Windows-driver-samples.

    Args:
        path: a folder.

    Returns:
        True when its git remote names Windows-driver-samples, or when it has a README.md, at least
        two of the repository's top-level area folders (general, usb, hid, ...) and two .sln files
        within five levels.
    """
    root = Path(path)
    if not root.is_dir():
        return False
    if _git_remote_is_samples(root):
        return True
    if not any((root / name).is_file() for name in ("README.md", "readme.md", "Readme.md")):
        return False
    areas = [p for p in root.iterdir() if p.is_dir() and p.name.lower() in CATEGORIES]
    if len(areas) < 2:
        return False
    found = 0
    for area in areas:
        for dirpath, dirnames, filenames in os.walk(area):
            depth = len(Path(dirpath).relative_to(root).parts)
            dirnames[:] = [d for d in dirnames if d.lower() not in SKIP_DIRS and depth < 5]
            found += sum(1 for f in filenames if f.lower().endswith(".sln"))
            if found >= 2:
                return True
    return False


def _git_commit(root: Path) -> str | None:
    head = root / ".git" / "HEAD"
    try:
        ref = head.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    if not ref.startswith("ref:"):
        return ref or None
    name = ref[4:].strip()
    loose = root / ".git" / name
    if loose.is_file():
        return loose.read_text(encoding="utf-8").strip() or None
    packed = root / ".git" / "packed-refs"
    if packed.is_file():
        for line in packed.read_text(encoding="utf-8").splitlines():
            sha, _, refname = line.partition(" ")
            if refname.strip() == name:
                return sha
    return None


def _walk(root: Path) -> Iterator[tuple[Path, list[str]]]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d.lower() not in SKIP_DIRS and not d.startswith("."))
        yield Path(dirpath), sorted(filenames)


def _readme_facts(folder: Path) -> tuple[str, str]:
    readme = next((folder / n for n in ("README.md", "readme.md", "Readme.md") if (folder / n).is_file()), None)
    if readme is None:
        return "", ""
    fields, body = split_front_matter(_read(readme))
    heading = _HEADING.search(body)
    # The README's heading reads better than the front-matter slug ("IddSample"); fall back to it.
    title = heading.group(1).strip() if heading else str(fields.get("name") or "").strip()
    description = str(fields.get("description") or "").strip()
    if not description and heading:
        rest = body[heading.end() :].strip()
        paragraph = re.split(r"\n\s*\n", rest, maxsplit=1)[0].strip()
        if paragraph and not paragraph.startswith(("#", "|", "```", "-", "*", ">")):
            description = re.sub(r"\s+", " ", paragraph)
    return title, description


def _project(path: Path, rel: str) -> tuple[dict[str, Any], set[str]]:
    text = _read(path)
    config = _CONFIG_TYPE.search(text)
    target = _TARGET_NAME.search(text)
    types = {m.group(1) for m in _DRIVER_TYPE.finditer(text)}
    if not types:
        types = {m.group(1).upper() for m in _FRAMEWORK.finditer(text)}
    canon = {"kmdf": "KMDF", "umdf": "UMDF", "wdm": "WDM"}
    types = {canon.get(t.lower(), t) for t in types}
    info = {"file": rel, "target": target.group(1) if target else None, "type": config.group(1) if config else None}
    return info, types


def _inf_class(path: Path) -> str | None:
    section = ""
    for line in _read(path).splitlines():
        head = _INF_SECTION.match(line)
        if head:
            section = head.group(1).strip().lower()
            continue
        if section == "version":
            m = _INF_CLASS.match(line)
            if m:
                return m.group(1).strip().strip('"').strip() or None
    return None


def _blank(match: re.Match[str]) -> str:
    text = match.group()
    if text.startswith(("//", "/*")):
        return "\n" * text.count("\n")
    return text[0] + text[-1]


def _ddi_places(text: str, known: Collection[str]) -> Iterator[tuple[str, int]]:
    code = _C_NOISE.sub(_blank, text)
    for lineno, line in enumerate(code.split("\n"), start=1):
        for ident in _IDENT.findall(line):
            if ident in known:
                yield ident, lineno


def _scan_sample(root: Path, folder: Path, nested: set[Path], known: Collection[str], commit: str | None) -> Sample:
    rel_folder = folder.relative_to(root).as_posix()
    projects: list[dict[str, Any]] = []
    infs: list[dict[str, Any]] = []
    types: set[str] = set()
    calls: dict[str, list[tuple[str, int]]] = {}
    source_files = 0
    for dirpath, filenames in _walk(folder):
        # Files under a nested sample's folder belong to that sample.
        if dirpath != folder and any(dirpath == n or n in dirpath.parents for n in nested):
            continue
        for name in filenames:
            path = dirpath / name
            rel = path.relative_to(root).as_posix()
            ext = path.suffix.lower()
            if ext == ".vcxproj":
                info, found = _project(path, rel)
                projects.append(info)
                types |= found
            elif ext in INF_EXTS:
                infs.append({"file": rel, "class": _inf_class(path)})
            elif ext in SOURCE_EXTS:
                source_files += 1
                for ddi, line in _ddi_places(_read(path), known):
                    places = calls.setdefault(ddi, [])
                    if len(places) < MAX_PLACES and (rel, line) not in places:
                        places.append((rel, line))
    title, description = _readme_facts(folder)
    classes: dict[str, str] = {}
    for inf in infs:
        if inf["class"] and inf["class"].lower() != "none":
            classes.setdefault(inf["class"].lower(), inf["class"])
    extra: dict[str, Any] = {
        "projects": projects,
        "infs": infs,
        "source_files": source_files,
        "blob_base": blob_base(commit),
    }
    if commit:
        extra["commit"] = commit
    return Sample(
        path=rel_folder,
        title=title or folder.name,
        description=description,
        url=tree_url(rel_folder),
        driver_types=tuple(sorted(types)),
        inf_classes=tuple(classes.values()),
        ddi_calls=dict(sorted(calls.items())),
        extra=extra,
    )


def scan_clone(root: Path | str, known_ddis: Collection[str]) -> Iterator[Sample]:
    """Walk a Windows-driver-samples checkout and describe each sample.

    A sample is a folder holding a ``.sln`` file; a sample owns its folder tree except the folders of
    samples nested below it. Title and description come from its README.md, driver types from its
    ``.vcxproj`` files (``DriverType``, else ``KMDF_/UMDF_VERSION_MAJOR``), INF classes from
    ``Class=`` in the ``[Version]`` section of ``.inf``/``.inx`` files, and DDI calls from its C/C++
    sources with comments and string literals ignored.

    Args:
        root: the checkout's top folder.
        known_ddis: DDI names to look for (API reference names, or ``fallback_ddis()``).

    Yields:
        Samples sorted by path. ``ddi_calls`` maps each DDI to up to 5 ``(file, line)`` places (paths
        relative to ``root``, posix); ``extra`` holds ``projects``, ``infs``, ``source_files``,
        ``blob_base`` and ``commit`` when ``.git`` names one.
    """
    root = Path(root)
    known = known_ddis if isinstance(known_ddis, set | frozenset) else frozenset(known_ddis)
    folders = sorted(
        (dirpath for dirpath, filenames in _walk(root) if any(f.lower().endswith(".sln") for f in filenames)),
        key=lambda p: p.as_posix(),
    )
    commit = _git_commit(root)
    for folder in folders:
        nested = {f for f in folders if folder in f.parents}
        yield _scan_sample(root, folder, nested, known, commit)
