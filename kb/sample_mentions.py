"""Find where a text names a WDK sample ("the pcidrv sample", "OSR FX2", "toastmon") using the alias table."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from typing import NamedTuple

import yaml

DEFAULT_ALIASES = Path(__file__).resolve().parent.parent / "data" / "sample_aliases.yml"

# Text right after an alias that makes it a mention even without a context word: a file name.
_FILE_SUFFIX = re.compile(r"\.(?:sys|inf|inx|sln|vcxproj)\b", re.IGNORECASE)
_WORD = r"[A-Za-z0-9_]"
_SENTENCE_END = re.compile(r"[.!?;:\n]\s|\n")
# How far from the alias a context word may sit: "the echo sample", "the ECHO (KMDF) sample",
# "the sample called echo".
_AFTER_WORDS = 3
_BEFORE_WORDS = 2
# "CLASSPNP!TransferPktComplete" in a debugger stack names a loaded binary (here the inbox
# classpnp.sys), not a sample someone reads or builds: module!symbol never counts.
_DEBUGGER_SYMBOL = re.compile(r"![A-Za-z_]")
# A sample named by its place in an old DDK/WDK install whose backslashes a web page dropped:
# "WinDDK6000srckmdfpcidrvsys" is C:\WinDDK\6000\src\kmdf\pcidrv\sys. Only the install root makes
# such a glued token readable, so the rule starts there.
_GLUED_DDK_PATH = re.compile(r"(?<![A-Za-z0-9])(?:[A-Za-z]:)?winddk\d*src([a-z0-9_]+)", re.IGNORECASE)
# Folders of the old src tree that sit between "src" and a sample's own folder.
_DDK_AREAS = re.compile(
    r"(?:kmdf|umdf|wdm|wdf|general|usb|hid|input|network|ndis|storage|filesys|minifilter|audio|serial|"
    r"wmi|setup|kernel|bluetooth|video|print|smartcrd|1394|pcmcia|sd|spb|gpio|sensors|avstream|"
    r"wdmaudio|toaster|func|bus|filter)*"
)
# What may follow the sample's folder inside the glued path: one of its subfolders.
_DDK_TAIL = re.compile(r"(?:sys|exe|app|driver|inc|lib|test|kmdf|wdm|umdf|func|bus|filter|featured|simple)?")


@dataclass(frozen=True)
class Alias:
    """One way people name a sample, and the catalog path it stands for."""

    name: str
    sample_path: str | None
    requires_context: tuple[str, ...] = ()
    note: str = ""


class Mention(NamedTuple):
    """A sample named in a text: the alias, its catalog path and the character span."""

    alias: str
    sample_path: str | None
    start: int
    end: int


def _as_list(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError(f"{where}: expected a string or a list of strings, got {value!r}")


def aliases_from_yaml(text: str, include_retired: bool = False) -> list[Alias]:
    """Read the alias table from YAML text (the format of data/sample_aliases.yml).

    Args:
        text: YAML with a top-level ``aliases`` list of ``{sample, names, requires_context?, note?}``;
            ``sample: null`` marks an old sample name with no current catalog entry.
        include_retired: also return aliases whose ``sample`` is null.

    Returns:
        One Alias per name, in table order.

    Raises:
        ValueError: the YAML does not follow that shape (the message names the entry to fix).
    """
    doc = yaml.safe_load(text) or {}
    entries = doc.get("aliases") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise ValueError("alias table needs a top-level 'aliases:' list")
    out: list[Alias] = []
    for i, entry in enumerate(entries):
        where = f"aliases[{i}]"
        if not isinstance(entry, dict) or "names" not in entry or "sample" not in entry:
            raise ValueError(f"{where}: each entry needs 'sample' (a catalog path or null) and 'names'")
        sample = entry["sample"]
        if sample is not None and not isinstance(sample, str):
            raise ValueError(f"{where}: 'sample' must be a catalog path string or null")
        if sample is None and not include_retired:
            continue
        context = tuple(c.lower() for c in _as_list(entry.get("requires_context"), where))
        note = str(entry.get("note") or "")
        for name in _as_list(entry["names"], where):
            if not name.strip():
                raise ValueError(f"{where}: empty alias name")
            out.append(Alias(name.strip().lower(), sample, context, note))
    return out


def load_aliases(path: str | Path = DEFAULT_ALIASES, include_retired: bool = False) -> list[Alias]:
    """Load the alias table from a YAML file.

    Args:
        path: the table (default data/sample_aliases.yml in the project).
        include_retired: also return old names whose sample is no longer in the repository.

    Returns:
        One Alias per name, in table order.

    Raises:
        ValueError: the file does not follow the alias-table shape.
    """
    return aliases_from_yaml(Path(path).read_text(encoding="utf-8"), include_retired)


_SEP = re.compile(r"[\s_-]+")
_SEP_TOKEN = ""  # stands for "[\s_-]*" in the trie; real characters are never empty


def _normal(name: str) -> str:
    return _SEP.sub("", name.lower())


def _trie_pattern(names: list[str]) -> str:
    # One trie-shaped regex instead of 200 alternatives: the engine branches on the first letter, which
    # keeps a scan of a 250 KB thread in milliseconds. Continuations come before "end here", so the
    # longest name wins ("umdf fx2" over "fx2", "toaster bus" over "toaster").
    trie: dict = {}
    for name in names:
        node = trie
        parts = [p for p in _SEP.split(name.lower()) if p]
        for i, part in enumerate(parts):
            if i:
                node = node.setdefault(_SEP_TOKEN, {})
            for ch in part:
                node = node.setdefault(ch, {})
        node[None] = {}

    def render(node: dict) -> str:
        ends = None in node
        branches = []
        for key in sorted((k for k in node if k is not None), key=lambda k: (k == _SEP_TOKEN, k)):
            head = r"[\s_-]*" if key == _SEP_TOKEN else re.escape(key)
            branches.append(head + render(node[key]))
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if ends else body

    return render(trie)


@lru_cache(maxsize=8)
def _compile(aliases: tuple[Alias, ...]) -> tuple[re.Pattern[str], dict[str, list[Alias]]]:
    by_key: dict[str, list[Alias]] = {}
    for alias in aliases:
        by_key.setdefault(_normal(alias.name), []).append(alias)
    # Every spelling goes into the trie ("osrfx2" and "osr fx2" are both needed to match "OSR FX2");
    # a match is looked up by its separator-free form.
    names = sorted({alias.name for alias in aliases})
    pattern = re.compile(rf"(?<!{_WORD}){_trie_pattern(names)}(?!{_WORD})", re.IGNORECASE)
    return pattern, by_key


def _words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9]+", text.lower())


def _has_context(text: str, start: int, end: int, context: tuple[str, ...]) -> bool:
    if _FILE_SUFFIX.match(text, end):
        return True
    # Context words count only inside the same sentence: "the halt event. The sample..." is no mention.
    after = _SENTENCE_END.split(text[end : end + 60], maxsplit=1)[0]
    before = _SENTENCE_END.split(text[max(0, start - 60) : start])[-1]
    after_words = _words(after)[:_AFTER_WORDS]
    before_words = _words(before)[-_BEFORE_WORDS:]
    for word in context:
        # "samples" and "drivers" count for "sample" and "driver".
        if any(w == word or w == word + "s" for w in after_words):
            return True
        # Before the name only the nearest words count: "the sample echo", "sample called echo".
        if any(w == word or w == word + "s" for w in before_words):
            return True
    return False


def find_sample_mentions(text: str, aliases: list[Alias] | tuple[Alias, ...]) -> list[Mention]:
    """Every place ``text`` names a sample from the alias table.

    Matching is case-insensitive on whole words; spaces, ``-`` and ``_`` inside a name are
    interchangeable ("OSR USB-FX2" = "osr usb fx2"). An alias with ``requires_context`` only counts
    when one of those words sits within three words of it ("the echo sample", not "echo the value")
    or when a file suffix follows it ("echo.sys").

    Args:
        text: any prose (question, answer, page).
        aliases: the table from ``load_aliases``.

    Returns:
        ``Mention(alias, sample_path, start, end)`` tuples in text order, without overlaps;
        ``alias`` is the table name (lower case), ``text[start:end]`` the words as written.
    """
    if not text or not aliases:
        return []
    pattern, by_key = _compile(tuple(aliases))
    found: list[Mention] = []
    for match in pattern.finditer(text):
        start, end = match.span()
        if start == end or _DEBUGGER_SYMBOL.match(text, end):
            continue
        for alias in by_key.get(_normal(match.group()), ()):
            if alias.requires_context and not _has_context(text, start, end, alias.requires_context):
                continue
            found.append(Mention(alias.name, alias.sample_path, start, end))
            break
    found.extend(_glued_path_mentions(text, by_key))
    return sorted(found, key=lambda m: m.start)


def _glued_path_mentions(text: str, by_key: dict[str, list[Alias]]) -> list[Mention]:
    # The path itself is the context, so aliases that need a context word count here too.
    found: list[Mention] = []
    for match in _GLUED_DDK_PATH.finditer(text):
        rest = match.group(1).lower()
        best: tuple[int, int, Alias] | None = None
        for i in range(len(rest)):
            if not _DDK_AREAS.fullmatch(rest, 0, i):
                continue
            for j in range(len(rest), i, -1):
                aliases = by_key.get(rest[i:j])
                if aliases and _DDK_TAIL.fullmatch(rest, j) and (best is None or j - i > best[1] - best[0]):
                    best = (i, j, aliases[0])
        if best is not None:
            i, j, alias = best
            base = match.start(1)
            found.append(Mention(alias.name, alias.sample_path, base + i, base + j))
    return found
