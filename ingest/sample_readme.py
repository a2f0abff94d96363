"""A sample's README.md (Windows-driver-samples) cut into overview / build / install / run / test Q&A pairs."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass

from ingest.markdown import slugify
from ingest.markdown import split_front_matter
from kb.errors import ParseError
from kb.models import Pair
from kb.models import Record
from kb.models import SourceDoc
from kb.models import SourceMeta

REPO_URL = "https://github.com/microsoft/Windows-driver-samples"
REF = "main"
LEARN = "https://learn.microsoft.com"
KIND = "sample-readme"

# Heading words that say which task a README section explains; the first task that matches wins,
# so "Build the sample using MSBuild" is build and "Installation and Operation" is install.
TASKS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("build", re.compile(r"\b(build|builds|building|built|compile|compiling|msbuild)\b", re.I)),
    ("install", re.compile(r"\b(install|installs|installing|installation|deploy|deploying|deployment)\b", re.I)),
    ("test", re.compile(r"\b(test|tests|testing|hlk)\b", re.I)),
    ("run", re.compile(r"\b(run|runs|running|usage|operation|operating)\b", re.I)),
)
_OVERVIEW = re.compile(r"\b(overview|introduction|about|description|what (it|the \w+ \w+) does)\b", re.I)

_HEADING = re.compile(r"^(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})")
# [text](url "title") with one level of balanced parentheses inside the url (MSDN "...(v=vs.85).aspx").
_LINK = re.compile(r"(!?\[[^\]]*\])\(\s*((?:[^()\s]|\([^()\s]*\))+)(\s+\"[^\"]*\")?\s*\)")
_REF_DEF = re.compile(r"^([ \t]{0,3}\[[^\]]+\]:[ \t]*)(\S+)", re.M)
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)
_GITHUB_FOLDER = re.compile(
    r"github\.com/microsoft/Windows-driver-samples/(?:tree|blob)/[^/]+/(.*?)(?:/README\.md)?/?$", re.I
)


@dataclass(frozen=True)
class _Section:
    level: int
    heading: str
    start: int  # index of the heading line
    end: int  # index after the last line (children included)


def sample_folder(path: str, url: str | None = None) -> str:
    """The sample's folder in the repository, from the README's path (or a GitHub URL).

    Args:
        path: e.g. ``readmes/usb/usbsamp/README.md``, ``./usb/usbsamp/README.md`` (tar member) or a
            path inside a clone (``.../Windows-driver-samples/usb/usbsamp/README.md``).
        url: a GitHub tree/blob URL of the sample, used first when given.

    Returns:
        ``usb/usbsamp``; ``""`` for the repository's own README.
    """
    if url:
        match = _GITHUB_FOLDER.search(url)
        if match:
            return match.group(1).strip("/")
    p = path.replace("\\", "/")
    lower = p.lower()
    for marker in ("windows-driver-samples/", "readmes/"):
        at = lower.rfind(marker)
        if at >= 0 and (at == 0 or lower[at - 1] in "/."):
            p = p[at + len(marker) :]
            break
    while p.startswith("./"):
        p = p[2:]
    folder = posixpath.dirname(p) if p.lower().endswith(".md") else p
    return folder.strip("/").removeprefix(".").strip("/")


def tree_url(folder: str) -> str:
    """GitHub URL of a sample folder (the repository root for ``""``)."""
    return f"{REPO_URL}/tree/{REF}/{folder}" if folder else REPO_URL


def absolutize_links(markdown: str, folder: str) -> str:
    """Make README links absolute so they work outside GitHub.

    Args:
        markdown: README text.
        folder: the sample folder the README sits in.

    Returns:
        The text with relative links pointing at GitHub blob URLs of the repository, site-relative
        ``/windows-hardware/...`` links at learn.microsoft.com, and ``#anchor`` links at the README.
    """
    readme = f"{REPO_URL}/blob/{REF}/{folder + '/' if folder else ''}README.md"

    def resolve(url: str) -> str:
        if _SCHEME.match(url) or url.startswith("//"):
            return url
        if url.startswith("#"):
            return readme + url
        if url.startswith("/"):
            if url.startswith(("/windows-hardware/", "/windows/", "/en-us/", "/previous-versions/")):
                return LEARN + url
            return f"{REPO_URL}/blob/{REF}{url}"
        target = posixpath.normpath(posixpath.join(folder, url))
        # A link above the repository root cannot leave it on GitHub either.
        while target.startswith("../"):
            target = target[3:]
        return f"{REPO_URL}/blob/{REF}/{target.removeprefix('./')}"

    def inline(m: re.Match[str]) -> str:
        return f"{m.group(1)}({resolve(m.group(2))}{m.group(3) or ''})"

    out = _LINK.sub(inline, markdown)
    return _REF_DEF.sub(lambda m: m.group(1) + resolve(m.group(2)), out)


def _clean_heading(raw: str) -> str:
    text = re.sub(r"<[^>]+>", "", raw)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"[*`]", "", text).strip().rstrip("#").strip()


def _sections(lines: list[str]) -> list[_Section]:
    heads: list[tuple[int, int, str]] = []
    fence: str | None = None
    for i, line in enumerate(lines):
        m = _FENCE.match(line)
        if m:
            mark = m.group(1)
            if fence is None:
                fence = mark[0] * len(mark)
            elif mark.startswith(fence):
                fence = None
            continue
        if fence is None:
            h = _HEADING.match(line)
            if h:
                heads.append((i, len(h.group(1)), _clean_heading(h.group(2))))
    out = []
    for n, (i, level, heading) in enumerate(heads):
        end = next((j for j, lv, _ in heads[n + 1 :] if lv <= level), len(lines))
        out.append(_Section(level, heading, i, end))
    return out


def _text(lines: list[str]) -> str:
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _short_name(title: str, folder: str) -> str:
    name = re.sub(r"\s*#+\s*$", "", title).strip()
    # "KMDF Echo Sample" -> "KMDF Echo", "Toaster Sample Driver" -> "Toaster": the question adds "sample".
    name = re.sub(r"\s+(sample(s)?(\s+driver(s)?)?|driver\s+sample(s)?)$", "", name, flags=re.I).strip() or name
    base = folder.rsplit("/", 1)[-1]
    if base and base.lower() not in name.lower().replace(" ", ""):
        name = f"{name} ({base})"
    return name


def _question(task: str, name: str, root: bool) -> str:
    if root:
        return {
            "overview": "What is in the Windows-driver-samples repository?",
            "build": "How do I build the Windows driver samples?",
            "install": "How do I install the Windows driver samples?",
            "test": "How do I test the Windows driver samples?",
            "run": "How do I run the Windows driver samples?",
        }[task]
    if task == "overview":
        return f"What does the {name} sample demonstrate?"
    return f"How do I {task} the {name} sample?"


def _task_of(heading: str) -> str | None:
    for task, pattern in TASKS:
        if pattern.search(heading):
            return task
    return None


def parse(text: str, source: SourceDoc) -> Iterator[Record]:
    """Read one sample README.

    Args:
        text: the README.md text (front matter optional).
        source: ``source.path`` names the README (``readmes/usb/usbsamp/README.md``, a tar member
            ``./usb/usbsamp/README.md`` or a clone path); a GitHub ``source.url`` wins when given.

    Yields:
        SourceMeta(title, url = GitHub tree URL of the folder, description, extra = front matter fields
        and ``sample_path``), then up to five Pairs of kind ``sample-readme``: overview ("What does the
        <name> sample demonstrate?") and one per task found in the headings (build, install, test,
        run). Each has ``locator={"section": slug}`` and ``extra={"sample_path", "task"}``; links are
        absolute.

    Raises:
        ParseError: the text is empty or has neither a heading nor front matter to name the sample.
    """
    fields, body = split_front_matter(text)
    folder = sample_folder(source.path, source.url)
    body = absolutize_links(body, folder)
    lines = body.splitlines()
    sections = _sections(lines)
    h1 = next((s for s in sections if s.level == 1), None)
    title = h1.heading if h1 else str(fields.get("name") or "").strip()
    if not body.strip() or not (title or fields):
        raise ParseError("empty or untitled README: expected a '# Title' heading or front matter with 'name:'")
    title = title or folder.rsplit("/", 1)[-1] or "Windows-driver-samples"
    root = folder == ""
    description = str(fields.get("description") or "").strip()
    url = tree_url(folder)
    meta_extra = {k: v for k, v in fields.items() if isinstance(v, str | list | int | float)}
    meta_extra["sample_path"] = folder
    yield SourceMeta(title=title, url=url, description=description, extra=meta_extra)

    name = _short_name(title, folder)
    base_extra = {"sample_path": folder}
    subs = [s for s in sections if s.level >= 2]
    first_sub = subs[0].start if subs else len(lines)
    intro_start = h1.start + 1 if h1 and h1.start < first_sub else 0
    intro = _text(lines[intro_start:first_sub])
    overview = intro
    if len(intro) < 300:
        extra_sec = next((s for s in subs if _OVERVIEW.search(s.heading)), None)
        if extra_sec:
            overview = _text([intro, f"**{extra_sec.heading}**", *lines[extra_sec.start + 1 : extra_sec.end]])
    if description and description.rstrip(".").lower() not in overview.lower():
        overview = f"{description}\n\n{overview}".strip()
    if overview:
        yield Pair(
            question=_question("overview", name, root),
            answer=overview,
            locator={"section": "overview"},
            kind=KIND,
            heading=title,
            extra={**base_extra, "task": "overview"},
        )

    for task, _pattern in TASKS:
        claimed: list[_Section] = []
        for sec in subs:
            if _task_of(sec.heading) != task:
                continue
            # A child of a section already taken for this task is inside its text already.
            if any(c.start < sec.start < c.end for c in claimed):
                continue
            claimed.append(sec)
        parts = [_text([f"**{s.heading}**", *lines[s.start + 1 : s.end]]) for s in claimed]
        if not claimed or not any(_text(lines[s.start + 1 : s.end]) for s in claimed):
            continue
        yield Pair(
            question=_question(task, name, root),
            answer="\n\n".join(parts),
            locator={"section": slugify(claimed[0].heading)},
            kind=KIND,
            heading=claimed[0].heading,
            extra={**base_extra, "task": task},
        )
