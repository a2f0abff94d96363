"""Parser for WDK API reference pages (wdk-ddi-src/content/<header>/*.md): reads the page into an ApiPage."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator

from ingest.apipage import KIND_PREFIX
from ingest.apipage import PREFIX_KIND
from ingest.apipage import REQ_KEYS
from ingest.apipage import ApiPage
from ingest.apipage import Param
from ingest.apipage import ddi_url
from ingest.apipairs import build_pairs
from ingest.apipairs import emit
from ingest.apipairs import irql_answer
from ingest.apipairs import requirements_answer
from ingest.markdown import DRIVERS
from ingest.markdown import Section
from ingest.markdown import clean_markdown
from ingest.markdown import learn_url
from ingest.markdown import plain_text
from ingest.markdown import split_front_matter
from ingest.markdown import split_sections
from kb.models import Record
from kb.models import SourceDoc

# the page record and the pair builders live in ingest.apipage and ingest.apipairs; these names stay importable
__all__ = ["KIND_PREFIX", "PREFIX_KIND", "REQ_KEYS", "ApiPage", "Param", "build_pairs", "ddi_url", "emit",
           "irql_answer", "parse", "read_markdown", "requirements_answer"]
_IRQL_VALUE = re.compile(r"LEVEL|IRQL|\bany\b|passive|dispatch|remarks|DIRQL", re.I)


def parse(text: str, source: SourceDoc) -> Iterator[Record]:
    """Parse one API reference page in its markdown source form.

    Args:
        text: the page, front matter included.
        source: its path (``wdk-ddi-src/content/<header>/<page>.md``; links resolve against it) and optional URL.

    Returns:
        An iterator over one SourceMeta, then the pairs of ``build_pairs``.
    """
    yield from emit(read_markdown(text, source))


def read_markdown(text: str, source: SourceDoc) -> ApiPage:
    """Read the markdown source of a reference page.

    Args:
        text: the page, front matter included (a missing front matter leaves the requirements empty).
        source: its path (kind and header come from ``nf-wdm-...`` names) and optional URL.

    Returns:
        The ApiPage: name, kind, header, URL, description, parameters, returns, remarks, requirements.
    """
    meta, body = split_front_matter(text)
    stem = posixpath.splitext(posixpath.basename(source.path))[0]
    folder = posixpath.basename(posixpath.dirname(source.path))
    sections = split_sections(clean_markdown(body, source.path, base_url=source.url))
    h1 = next((s.title for s in sections if s.level == 1), "")
    prefix = stem.split("-", 1)[0]
    name, kind = _name_and_kind(h1 or str(meta.get("title") or stem), prefix, stem == "index")
    api_names = tuple(_as_list(meta.get("api_name")))
    if kind in {"structure", "union", "enumeration"}:
        typenames = [t.strip(" *") for t in str(meta.get("req.typenames") or "").split(",") if t.strip(" *")]
        name = next((t for t in typenames if not t.startswith("P") or t[1:] not in typenames), name.lstrip("_"))
    named = re.match(r"n[a-z]-([a-z0-9_]+)(?:-|$)", stem)  # nf-wdm-kesetevent: the header is in the file name
    header = str(meta.get("req.header") or "").strip() or (f"{named.group(1)}.h" if named else "")
    if not header and folder and not folder.startswith("_") and stem != "index":
        header = f"{folder}.h"
    page = ApiPage(
        name=name,
        kind=kind,
        header=header,
        url=source.url or learn_url(source.path) or ddi_url(header, kind, name),
        title=plain_text(str(meta.get("title") or h1 or name)),
        api_names=api_names or (name,),
        requirements=_requirements(meta),
        is_index=stem == "index" or prefix == "na",
        summary=plain_text(str(meta.get("description") or "")),
    )
    if page.is_index and folder.startswith("_"):  # a technology area ("_kernel"), not a header
        page.name, page.header = page.title, ""
    elif page.is_index and not page.header and name.lower().endswith(".h"):
        page.header = name.lower()
    if page.is_index and not page.url and page.header:
        page.url = f"{DRIVERS}ddi/{page.header.rsplit('.', 1)[0]}"
    _fill_sections(page, sections)
    if kind == "callback":
        m = re.search(r"\*{1,2}(Evt[A-Za-z0-9]+|[A-Z][a-z]+[A-Z][A-Za-z0-9]+)\*{1,2}", page.description)
        if m and m.group(1) != name:
            page.alias = m.group(1)
    return page




def _as_list(value: object) -> list[str]:
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [v.strip() for v in str(value).split(",") if v.strip()] if value else []


def _name_and_kind(h1: str, prefix: str, is_index: bool) -> tuple[str, str]:
    h1 = re.sub(r"\s*\([\w.]+\.h\)$", "", h1.strip())
    if is_index or prefix == "na":
        return re.sub(r"\s+header$", "", h1, flags=re.I), "header"
    parts = h1.split(" ", 1)
    words = parts[1].lower() if len(parts) > 1 else ""
    kind = PREFIX_KIND.get(prefix, "function")
    for word, k in (("macro", "macro"), ("method", "method"), ("union", "union"), ("callback", "callback"),
                    ("structure", "structure"), ("enumeration", "enumeration"), ("ioctl", "IOCTL"),
                    ("interface", "interface"), ("class", "class"), ("function", kind)):
        if word in words.split():
            kind = k
            break
    return parts[0], kind


def _requirements(meta: dict[str, object]) -> dict[str, str]:
    reqs: dict[str, str] = {}
    for key, label in REQ_KEYS:
        value = re.sub(r"\s+", " ", str(meta.get(key) or "")).strip()
        if key == "req.irql" and not _IRQL_VALUE.search(value):
            value = ""  # "_requires_same_" and other SAL leftovers are not IRQLs
        if key == "req.header" and value and meta.get("req.include-header"):
            value = f"{value} (include {str(meta['req.include-header']).strip()})"
        if value:
            reqs[label] = value
    return reqs


def _fill_sections(page: ApiPage, sections: list[Section]) -> None:
    """Route the "## -description", "### -param X [in]"... sections of the source into the page fields."""
    target = ""
    extra: dict[str, list[str]] = {"description": [], "returns": [], "remarks": [], "syntax": []}
    for s in sections:
        title = s.title.strip()
        key = title.split(" ", 1)[0].lower() if title.startswith("-") else ""
        if s.level <= 1:
            continue
        if key in ("-description", "-inheritance"):
            target = "description"
        elif key in ("-returns", "-remarks", "-syntax", "-prototype"):
            target = {"-prototype": "syntax"}.get(key, key[1:])
        elif key in ("-parameters", "-struct-fields", "-enum-fields", "-union-fields", "-ioctlparameters"):
            target = "params"
            page.params_label = {"-struct-fields": "Members", "-union-fields": "Members", "-enum-fields": "Values",
                                 "-ioctlparameters": "Parameters"}.get(key, "Parameters")
            if s.text.strip():
                page.params.append(Param("", "", s.text.strip()))
            continue
        elif key in ("-param", "-field") or (key.startswith("-") and target == "params" and s.level >= 3):
            page.params.append(_param(title, s.text))
            continue
        elif key in ("-see-also", "-requirements"):
            target = ""
            continue
        elif key.startswith("-"):
            target = "remarks"
            extra[target].append(f"**{title.lstrip('-').replace('-', ' ').capitalize()}**")
        elif target and target != "params":
            extra[target].append(f"{'#' * min(s.level + 1, 6)} {title}")  # a plain sub-heading inside a section
        elif target == "params" and page.params:
            page.params[-1].text += f"\n\n**{title}**\n\n{s.text.strip()}"
            continue
        if target in extra and s.text.strip():
            extra[target].append(s.text.strip())
    page.description = "\n\n".join(extra["description"])
    page.returns = "\n\n".join(extra["returns"])
    page.remarks = "\n\n".join(extra["remarks"])
    page.syntax = "\n\n".join(extra["syntax"])


def _param(title: str, text: str) -> Param:
    m = re.match(r"^-(?:param|field)\s*(\S*)\s*(?:\[([^\]]*)\])?", title)
    if m:
        name, _, value = m.group(1).split(".")[-1].partition(":")  # "-field WdfExecutionLevelInvalid:0x00"
        text = f"({value}) {text.strip()}" if value else text.strip()
        return Param(name, (m.group(2) or "").strip(), text.strip())
    label = title.lstrip("-").replace("-", " ").capitalize()  # -input-buffer -> Input buffer
    return Param(label.replace("Ioctl major code", "Major code"), "", text.strip())

