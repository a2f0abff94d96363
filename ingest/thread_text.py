"""Text helpers for comment threads: courtesy trimming, names, identifiers, code fencing, similarity."""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Iterable
from difflib import SequenceMatcher

GREETING_RE = re.compile(
    r"^\s*(?:hi|hello|hallo|hey|dear|greetings)\b[\s,!]*(?P<name>[^\n,:!]{0,40})[,:!]?\s*$", re.IGNORECASE
)
GREETING_PREFIX_RE = re.compile(r"^\s*(?:hi|hello|hallo|dear)\b[^,:!\n]{0,30}[,:!]\s+(?=\S)", re.IGNORECASE)
# "Tal, ...", "Ted Lin, ...", "Carlos (from 2/27), ...", "himanshup , ..."
ADDRESS_RE = re.compile(r"^\s*(?P<name>[A-Za-z][\w.\-]{0,30}(?: [A-Z][\w]{1,20})?)\s*(?:\([^)]{0,60}\))?\s*[,:]")
NOT_NAMES = frozenset(
    "yes no well also ok okay sorry thanks thank so now first second third however unfortunately frankly "
    "actually basically again hmm great right correct sure then btw update note finally short in if but "
    "and or the this that it for as yeah agreed true false please regards cheers ps fyi re question answer "
    "problem solution example code output error status result edit ed hth hi hello hey apologies dear oh "
    "maybe perhaps anyway hope".split()
)
CLOSING_RE = re.compile(
    r"^\s*(?:(?:many |best |warm |with warm |kind |with )?(?:thanks?|thank you|thx|thks|tanks|regards|rgds|cheers|"
    r"best wishes|sincerely|br|ciao)\b.*|hope (?:that|this) helps.*|hth.*|thanks? (?:in|in ad\w*) advance.*|"
    r"thank ?you\.?|[-–—]+\s*\w.*|ps\b.*)$",
    re.IGNORECASE,
)
NAME_LINE_RE = re.compile(r"^\s*[-–—~]?\s*(?P<name>[A-Z][a-zà-ÿ]+(?: [A-Z][a-zà-ÿ]+| [A-Z]\.?){0,2})\s*[.!]?\s*$")
SPACED_NAME_RE = re.compile(r"^\s*(?P<name>(?:[A-Za-z] ){2,}[A-Za-z])\s*$")
INLINE_CLOSING_NAME_RE = re.compile(
    r"(?i:thanks|thank you|regards|cheers|best wishes)[,!.]?\s+(?P<name>[A-Z][a-z]{2,15})\s*[.!]?\s*$"
)
DASH_NAME_RE = re.compile(r"^\s*(?P<name>[A-Z][a-z]{2,15})\s+[-–—]\s+\S")
PERSON_WORDS_STOP = frozenset("Thanks Thank Regards Cheers Hello Dear Hi Please Help Sorry Yes No Best Warm".split())

IDENT_RE = re.compile(
    r"!?\b(?:[A-Z][a-z0-9]+(?:[A-Z][A-Za-z0-9]*)+|[a-z]+[A-Z][A-Za-z0-9]+|[A-Z][A-Z0-9]*_[A-Z0-9_]+|"
    r"(?:Wdf|Evt|Io|Ke|Ex|Mm|Ps|Po|Zw|Nt|Rtl|Ob|Hal|Ndis|Usb|Hid|Wdm|Kd|Dbg)[A-Z]\w+)\b"
)
API_PREFIXES = (
    "Wdf", "WDF", "Evt", "Io", "Ke", "Ex", "Mm", "Ps", "Po", "Zw", "Nt", "Rtl", "Ob", "Hal", "Ndis", "NDIS",
    "Usb", "USB", "Hid", "HID", "IRP", "IOCTL", "URB", "STATUS", "ERROR", "FILE", "DEVICE", "Setup", "Cm",
    "Kd", "Dbg", "Wmi", "Stor", "Scsi", "Fx", "Create", "Close", "Read", "Write", "DeviceIoControl",
    "Register", "Get", "Set", "Query", "Dispatch", "DISPATCH", "PASSIVE", "MmGet", "Interlocked", "Cancel",
)
WORD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")
HEXISH_RE = re.compile(r"^(?:0x)?[0-9a-f]{6,}$|^[a-f]{0,2}\d+[a-f\d]*$", re.IGNORECASE)
STOP = frozenset(
    """the and for that this with you are not but have has was were can could would should will your from
    what when where which who how why there their them they then than into onto out about also any all
    some such only just very more most much many other another each every been being its it's i'm i've
    does did doing done don't doesn't didn't can't cannot won't isn't aren't wasn't get got getting
    use used using like want need know think see way thing things one two three make made let
    here now well yes please thanks thank hi hello dear regards help question questions answer
    doron doronh doran dorohn driver drivers problem work works working sure same new way able
    trying try tried call called calling after before while again back still even because into
    """.split()
)
CODE_LINE_RE = re.compile(
    r"(?:;\s*(?://.*)?$|^\s*[{}]\s*$|^\s*(?:kd|\d+: kd)>|^\s*\*\*\*|^\s*\d+:\s|^\s*#(?:include|define|if)|"
    r"^\s*(?:typedef|struct|return|if ?\(|else|while ?\(|for ?\(|switch ?\()|^\s*[0-9a-f`]{8,}\s+[0-9a-f`]{8}|"
    r"^\s*(?:Args|Arg\d|Irp|cmd\s+flg|\[\s*[0-9a-f]+,\s*\d+\]|>\[)|^\s*(?:NTSTATUS|VOID|PVOID|ULONG|BOOLEAN|"
    r"WDF_\w+|PIRP|PDEVICE_OBJECT)\b.*[(;]|^\s*\w+\s*=\s*[^=]+;$|"
    r"^\s*[\w.&\[\]>-]+\s*=\s*\S+(?: [-–] \S+)?\s*$|^\s*[A-Za-z_][\w.\->]*\s*\(.*\)\s*;?\s*$)"
)


def norm_name(name: str) -> str:
    """Lowercase letters and digits only: "Ted Lin" -> "tedlin"."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


def name_match(name: str, user: str, aliases: Iterable[str] = ()) -> float:
    """How well a first name used in a reply matches a user name (0..1).

    Args:
        name: the name as written ("Tal", "Guarav", "praveen").
        user: the commenter's user name ("talzur", "gaurav_verma").
        aliases: other names learned for that user (signatures, earlier replies).

    Returns:
        1.0 for a known alias, 0.9 for a prefix, 0.8 for a substring, 0.7 for a near
        spelling of the start of the user name, else 0.
    """
    return _name_match(name, user, tuple(sorted(aliases)))


@functools.lru_cache(maxsize=65536)
def _name_match(name: str, user: str, aliases: tuple[str, ...]) -> float:
    n, u = norm_name(name), norm_name(user)
    if not n:
        return 0.0
    for alias in aliases:
        a = norm_name(alias)
        if a and (n == a or (len(n) >= 3 and a.split()[0:1] and norm_name(alias.split()[0]) == n)):
            return 1.0
    if not u:
        return 0.0
    if n == u:
        return 1.0
    if len(n) >= 3 and u.startswith(n):
        return 0.9
    if len(n) >= 4 and n in u:
        return 0.8
    if len(u) >= 4 and n.startswith(u):
        return 0.8
    if len(n) >= 4 and max(SequenceMatcher(None, n, u[: len(n) + d]).ratio() for d in (-1, 0, 1)) >= 0.8:
        return 0.7
    return 0.0


def first_line(text: str) -> str:
    """The first non-empty line of a text."""
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def addressed_names(text: str) -> list[str]:
    """Names a comment opens by addressing ("Hi Doron," -> ["Doron"], "Tal, ..." -> ["Tal"]).

    Args:
        text: comment body.

    Returns:
        Zero, one or two names ("Hi Peter & Doron" gives both), as written.
    """
    line = first_line(text)
    m = GREETING_RE.match(line)
    if m:
        raw = m.group("name").strip(" .")
        return [part.strip() for part in re.split(r"\s*(?:&|\band\b|/)\s*", raw) if part.strip()][:2]
    m = ADDRESS_RE.match(line)
    if m:
        name = m.group("name").strip()
        if name.split()[0].lower() not in NOT_NAMES and not name[0].isdigit():
            return [name]
    return []


def paragraph_names(text: str) -> list[str]:
    """Names that open later paragraphs ("Sam, as for your question ..."): replies to several people.

    Args:
        text: comment body.

    Returns:
        Candidate names as written, first paragraph excluded (see addressed_names).
    """
    names = []
    for para in re.split(r"\n\s*\n", text.strip())[1:]:
        m = ADDRESS_RE.match(para)
        if m and m.group("name").split()[0].lower() not in NOT_NAMES and not m.group("name")[0].isdigit():
            names.append(m.group("name").strip())
    return names


def signature_name(text: str) -> str | None:
    """The sender's name when the comment ends with a signature ("Thanks, Rich" -> "Rich").

    Args:
        text: comment body.

    Returns:
        The name, or None when no signature is recognized.
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return None
    m = INLINE_CLOSING_NAME_RE.search(lines[-1])
    if m and m.group("name") not in PERSON_WORDS_STOP:
        return m.group("name")
    tail = lines[-8:]
    for k, line in enumerate(tail):
        m = NAME_LINE_RE.match(line) or SPACED_NAME_RE.match(line)
        if not m or len(line) > 30:
            continue
        name = m.group("name")
        if name.split()[0] in PERSON_WORDS_STOP or CLOSING_RE.match(line) and not line.lstrip().startswith(("-", "–")):
            continue
        previous = tail[k - 1] if k else ""
        # A name line counts when a closing precedes it or it is the very last line.
        if k == len(tail) - 1 or CLOSING_RE.match(previous):
            return name.replace(" ", "") if SPACED_NAME_RE.match(line) else name
    m = DASH_NAME_RE.match(lines[-1])
    if m and m.group("name") not in PERSON_WORDS_STOP:
        return m.group("name")
    return None


def strip_courtesy(text: str) -> str:
    """Remove greeting lines, closing formulas and the signature block from a comment.

    Args:
        text: comment body.

    Returns:
        The body without "Hi Doron," openers or "Thanks and Regards / Name" endings.
    """
    lines = text.splitlines()
    # Opening lines: blank, a greeting on its own, or a "(Monday, ... by pshier)" citation of what is answered.
    while lines and (
        not lines[0].strip()
        or GREETING_RE.match(lines[0]) and len(lines[0].strip()) <= 40
        or re.fullmatch(r"\s*\([^()]{5,80}\)\s*", lines[0])
    ):
        lines.pop(0)
    if lines:
        lines[0] = GREETING_PREFIX_RE.sub("", lines[0], count=1)
    # Trim from the end: blank lines, closings, short name/title lines right after a closing.
    cut = len(lines)
    seen_closing = False
    for k in range(len(lines) - 1, max(-1, len(lines) - 12), -1):
        line = lines[k].strip()
        if not line:
            continue
        if CLOSING_RE.match(line) and len(line) <= 80:
            cut, seen_closing = k, True
            continue
        short_name = len(line) <= 40 and (NAME_LINE_RE.match(line) or SPACED_NAME_RE.match(line))
        title_case = " " in line and all(w[0].isupper() or w[0].isdigit() for w in line.split())
        if short_name or (len(line) <= 40 and not seen_closing and k >= len(lines) - 6 and k == cut - 1
                          and title_case and re.fullmatch(r"[A-Z][\w.&,\- ]{0,38}", line)):
            cut = k
            continue
        break
    kept = lines[:cut]
    return "\n".join(kept).strip("\n")


def drop_quoted(text: str) -> str:
    """The text without lines quoted with '>' (what the comment answers, not what it says)."""
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(">"))


def api_names(text: str) -> tuple[str, ...]:
    """API-looking identifiers in a text, first occurrence order, no duplicates.

    Args:
        text: any text.

    Returns:
        Names like WdfRequestSend, IRP_MN_QUERY_REMOVE_DEVICE, !wdfkd-style commands excluded.
    """
    seen: dict[str, None] = {}
    for m in IDENT_RE.finditer(text):
        name = m.group(0)
        if name.startswith("!") or len(name) < 5:
            continue
        if name.startswith(API_PREFIXES) or "_" in name:
            seen.setdefault(name, None)
    return tuple(seen)


def is_code_line(line: str) -> bool:
    """True for a line that reads like code, a debugger prompt or a log line rather than prose."""
    s = line.strip()
    if not s or len(s) > 220:
        return False
    words = s.split()
    if len(words) > 14 and not re.search(r"[;{}]\s*$", s):
        return False
    return bool(CODE_LINE_RE.search(line))


def join_broken_lines(text: str) -> str:
    """Re-join sentences the page split into paragraphs ("... detect a device\n\nidle state?")."""
    paras = text.split("\n\n")
    out: list[str] = []
    for para in paras:
        prev = out[-1] if out else ""
        if (
            prev
            and not is_code_line(prev.splitlines()[-1])
            and not is_code_line(para.splitlines()[0])
            and re.search(r"[A-Za-z,]$", prev)
            and re.match(r"[a-z]", para)
        ):
            out[-1] = prev + " " + para
        else:
            out.append(para)
    return "\n\n".join(out)


def _dumpish(line: str) -> bool:
    # Debugger output lines that sit between code lines: hex values, "=", "!ext" names.
    s = line.strip()
    return bool(s) and not s.endswith((".", "?")) and bool(re.search(r"0x[0-9a-f]+|\b[0-9a-f]{8}\b|=|!\w", s))


def to_markdown(text: str) -> str:
    """Fence runs of code-like lines with ``` so code and logs survive markdown rendering.

    Args:
        text: plain comment text (paragraphs separated by blank lines).

    Returns:
        Markdown text; blank lines inside a fenced run are dropped (the page doubled them).
    """
    lines = join_broken_lines(text).splitlines()
    code = [is_code_line(line) for line in lines]
    nonblank = [k for k, line in enumerate(lines) if line.strip()]
    for i, k in enumerate(nonblank):
        if not code[k] and 0 < i < len(nonblank) - 1 and _dumpish(lines[k]):
            if code[nonblank[i - 1]] and code[nonblank[i + 1]]:
                code[k] = True
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            out.extend(["```", *run, "```"])
            run.clear()

    for k, line in enumerate(lines):
        if code[k]:
            run.append(line.rstrip())
        elif not line.strip() and run:
            nxt = next((j for j in range(k + 1, len(lines)) if lines[j].strip()), None)
            if nxt is None or not code[nxt]:
                flush()
                out.append("")
        else:
            flush()
            out.append(line.rstrip())
    flush()
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip("\n")


def stem(word: str) -> str:
    """Crude suffix stripping so "hangs", "hang" and "completes", "complete" meet."""
    if len(word) > 4:
        for suffix in ("ing", "ed", "es", "s"):
            if word.endswith(suffix) and not word.endswith("ss"):
                word = word[: -len(suffix)]
                break
        if word.endswith("e") and len(word) > 4:
            word = word[:-1]
    return word


def tokens(text: str) -> list[str]:
    """Content words (stemmed) and identifiers (whole, counted twice) of a text, lowercased."""
    out = []
    for m in WORD_RE.finditer(text):
        word = m.group(0)
        low = word.lower()
        if low in STOP or HEXISH_RE.match(low):
            continue
        if IDENT_RE.fullmatch(word):
            out.extend((low, low))
        else:
            out.append(stem(low))
    return out


class TermIndex:
    """TF-IDF vectors of a set of texts, for cosine similarity between them."""

    def __init__(self, texts: dict[int, str]) -> None:
        counts = {key: Counter(tokens(text)) for key, text in texts.items()}
        df: Counter[str] = Counter()
        for c in counts.values():
            df.update(c.keys())
        n = len(counts) or 1
        self.idf = {t: math.log((n + 1) / (d + 1)) + 1.0 for t, d in df.items()}
        self.vectors: dict[int, dict[str, float]] = {}
        for key, c in counts.items():
            vec = {t: (1.0 + math.log(f)) * self.idf[t] for t, f in c.items()}
            norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
            self.vectors[key] = {t: v / norm for t, v in vec.items()}

    def sim(self, a: int, b: int) -> float:
        """Cosine similarity of texts a and b (0..1)."""
        va, vb = self.vectors.get(a, {}), self.vectors.get(b, {})
        if len(va) > len(vb):
            va, vb = vb, va
        return sum(v * vb.get(t, 0.0) for t, v in va.items())


def content_text(text: str) -> str:
    """Prose lines whole, plus only the identifiers of code and log lines (dumps drown the topic)."""
    out = []
    lines = text.splitlines()
    if lines:
        m = ADDRESS_RE.match(lines[0])
        if m and m.group("name").split()[0].lower() not in NOT_NAMES:
            lines[0] = lines[0][m.end() :]  # "John, ..." names the asker, not the topic
    for line in lines:
        out.append(" ".join(api_names(line)) if is_code_line(line) else line)
    return "\n".join(out)


def shingles(text: str, n: int = 6) -> set[tuple[str, ...]]:
    """Word n-grams with at least three content words, used to spot quoted text."""
    words = re.findall(r"[a-z0-9_]+", text.lower())
    if len(words) < n:
        return set()
    # Prefix sums of "is a content word" make the per-gram check O(1).
    acc = [0]
    for w in words:
        acc.append(acc[-1] + (len(w) > 2 and w not in STOP))
    grams = zip(*(words[i:] for i in range(n)), strict=False)
    return {g for i, g in enumerate(grams) if acc[i + n] - acc[i] >= 3}
