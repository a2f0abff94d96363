"""Parser for API reference pages rendered as plain text ("KeSetEvent function (wdm.h)", Syntax, Parameters...)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ingest.apiref import ApiPage
from ingest.apiref import Param
from ingest.apiref import ddi_url
from ingest.apiref import emit
from kb.errors import ParseError
from kb.models import Record
from kb.models import SourceDoc

_KIND_WORDS = (
    "callback function|function|macro|method|structure|union|enumeration|IOCTL|interface|class|callback"
)
_TITLE = re.compile(rf"^(?P<name>[A-Za-z_][\w:~]*)\s+(?P<kind>{_KIND_WORDS})\s*(?:\((?P<header>[\w.]+\.h)\))?\s*$")
_HEADINGS = {
    "syntax": "syntax", "parameters": "params", "members": "params", "constants": "params", "values": "params",
    "return value": "returns", "return values": "returns", "returns": "returns", "remarks": "remarks",
    "requirements": "requirements", "see also": "see_also", "major code": "params", "input buffer": "params",
    "input buffer length": "params", "output buffer": "params", "output buffer length": "params",
    "input/output buffer": "params", "input/output buffer length": "params", "status block": "params",
    "inheritance": "description", "examples": "remarks", "example": "remarks",
}
_PARAM = re.compile(
    r"^\[(?P<dir>(?:in|out|in,\s*out|in/out|_in_|_out_|_inout_|optional|retval)(?:,\s*(?:optional|retval))*)\]\s+"
    r"(?P<name>[A-Za-z_]\w*)$",
    re.I,
)
# the docs file a structure, union or enumeration under its tag name: ns-wdftimer-_wdf_timer_config
_TYPEDEF_TAG = re.compile(r"\btypedef\s+(?:struct|union|enum)\s+(?:DECLSPEC_\w+(?:\([^)]*\))?\s+)?(_\w+)\s*\{")
_LABELS = {
    "minimum supported client": "Minimum supported client", "minimum supported server": "Minimum supported server",
    "target platform": "Target platform", "header": "Header", "library": "Library", "dll": "DLL", "irql": "IRQL",
    "ddi compliance rules": "DDI compliance rules", "minimum kmdf version": "Minimum KMDF version",
    "minimum umdf version": "Minimum UMDF version",
}


def looks_like(text: str) -> bool:
    """True when ``text`` is an API page rendered as plain text (a "<Name> <kind> (<header>.h)" first line and
    "Syntax"/"Parameters"/"Requirements" lines), not markdown."""
    lines = [line.strip() for line in text.lstrip("\ufeff").splitlines() if line.strip()]
    m = _TITLE.match(lines[0]) if lines else None
    if not m or not m["header"]:
        return False
    return any(line.lower() in ("syntax", "parameters", "requirements", "members", "remarks") for line in lines[1:80])


def parse(text: str, source: SourceDoc) -> Iterator[Record]:
    """Parse one rendered API page (the same pairs as ``ingest.apiref`` gives for the markdown source).

    Args:
        text: the plain text of the page.
        source: its path and optional URL (the docs URL is derived from name, kind and header otherwise).

    Returns:
        An iterator over one SourceMeta, then overview, remarks, IRQL and requirements pairs.

    Raises:
        ParseError: the first line is not "<Name> <kind> (<header>.h)".
    """
    yield from emit(read_text(text, source))


def read_text(text: str, source: SourceDoc) -> ApiPage:
    """Read a rendered API page.

    Args:
        text: the plain text (one paragraph per line, "Syntax"/"Parameters"/... lines as headings).
        source: its path and optional URL.

    Returns:
        The ApiPage, as ``ingest.apiref.read_markdown`` builds it from the markdown source.

    Raises:
        ParseError: the first line is not "<Name> <kind> (<header>.h)".
    """
    lines = [line.rstrip() for line in text.lstrip("\ufeff").splitlines()]
    lines = [line for line in lines if line.strip()]
    m = _TITLE.match(lines[0].strip()) if lines else None
    if not m:
        first = lines[0][:80] if lines else ""
        raise ParseError(
            f"not a rendered API page: the first line {first!r} should read '<Name> <kind> (<header>.h)'; "
            "use the api-ref format for markdown sources"
        )
    kind = {"callback function": "callback"}.get(m["kind"], m["kind"])
    header = m["header"] or ""
    buckets: dict[str, list[str]] = {"description": [], "syntax": [], "params": [], "returns": [], "remarks": [],
                                     "requirements": [], "see_also": []}
    current = "description"
    labels: list[str] = []
    for line in lines[1:]:
        key = line.strip().lower().rstrip(":")
        if key in _HEADINGS and len(line) < 40:
            current = _HEADINGS[key]
            if current == "params" and key not in ("parameters", "members", "constants", "values"):
                buckets["params"].append(f"[] {line.strip()}")  # an IOCTL buffer heading starts an entry
                labels.append(line.strip())
            continue
        buckets[current].append(line)
    requirements = _requirements(buckets["requirements"])
    name = m["name"]
    page = ApiPage(
        name=name,
        kind=kind,
        header=header or requirements.get("Header", "").split(" ", 1)[0],
        title=lines[0].strip(),
        description="\n\n".join(line.strip() for line in buckets["description"]),
        api_names=(name,),
        syntax="```cpp\n" + "\n".join(buckets["syntax"]) + "\n```" if buckets["syntax"] else "",
        params=_params(buckets["params"], kind),
        params_label={"structure": "Members", "union": "Members", "enumeration": "Values"}.get(kind, "Parameters"),
        returns="\n\n".join(line.strip() for line in buckets["returns"]),
        remarks="\n\n".join(line.strip() for line in buckets["remarks"]),
        requirements=requirements,
    )
    page.url = source.url or ddi_url(page.header, kind, _url_name(name, buckets["syntax"]))
    return page


def _url_name(name: str, syntax: list[str]) -> str:
    """The name a type's page is filed under: its tag when the syntax declares one ("typedef struct _X {" -> "_X")."""
    m = _TYPEDEF_TAG.search("\n".join(syntax))
    return m.group(1) if m else name


def _params(lines: list[str], kind: str) -> list[Param]:
    """Parameter entries: "[in] Name" lines (members and values: a lone identifier line) start an entry."""
    params: list[Param] = []
    for line in lines:
        text = line.strip()
        m = _PARAM.match(text)
        label = text[3:] if text.startswith("[] ") else ""
        lone = kind in ("structure", "union", "enumeration") and re.fullmatch(r"[A-Za-z_]\w*", text)
        if m or label or lone:
            name = m["name"] if m else (label or text)
            params.append(Param(name, m["dir"] if m else "", ""))
        elif params:
            params[-1].text = f"{params[-1].text}\n\n{text}".strip()
        else:
            params.append(Param("", "", text))
    return params


def _requirements(lines: list[str]) -> dict[str, str]:
    """The "Requirement | Value |" pipe table of a rendered page as label -> value."""
    reqs: dict[str, str] = {}
    for line in lines:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2 or set(cells[0]) <= set("-: ") or cells[0].lower() == "requirement":
            continue
        label = _LABELS.get(cells[0].lower(), cells[0])
        value = " | ".join(c for c in cells[1:] if c)
        if value:
            reqs[label] = value
    return reqs
