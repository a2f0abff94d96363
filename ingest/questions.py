"""Questions from headings and titles: rules that turn "Debugging a Failed Driver Unload" into a question."""

from __future__ import annotations

import re

from ingest.markdown import slugify

# generic headings (lowercase, "|"-separated) and the question they ask about the page topic {t} ({be}: is/are)
_GENERIC_TEMPLATES = {
    "What should I know about {t}?":
        "remarks|comments|additional information|notes|details|important|more information|discussion",
    "What {be} {t}?": "overview|description|summary|introduction|about",
    "What is the background of {t}?": "background",
    "What are the requirements for {t}?": "requirements",
    "What are the prerequisites for {t}?": "prerequisites",
    "What do I need before {t}?": "before you begin|before you start",
    "What are the parameters of {t}?": "parameters|task parameters",
    "What does {t} return?": "return value|return values|returns",
    "What is the syntax of {t}?": "syntax",
    "What is an example of {t}?": "examples|example|sample|code example|sample usage|example usage",
    "Which samples show {t}?": "samples",
    "How do I use {t}?": "usage",
    "What causes {t}?": "cause|causes",
    "How do I resolve {t}?": "resolution",
    "How do I troubleshoot {t}?": "troubleshooting",
    "What are the members of {t}?": "members",
    "What values does {t} have?": "values|text value",
    "What does {t} apply to?": "applies to",
    "In what environment does {t} run?": "environment",
    "What attributes does {t} have?": "attributes",
    "What are the parent elements of {t}?": "parent elements",
    "What are the child elements of {t}?": "child elements",
    "How do I test {t}?": "how to test|testing",
    "Which DLL implements {t}?": "dll",
    "What are the known issues with {t}?": "known issues",
    "What are the limitations of {t}?": "limitations",
    "What are the best practices for {t}?": "best practices",
    "What output does {t} produce?": "output",
    "What input does {t} take?": "input",
    "When is {t} sent?": "when sent",
    "How does {t} work?": "operation",
    "What status does {t} return?": "i/o status block|status block",
    "What are the input parameters of {t}?": "input parameters",
    "What are the output parameters of {t}?": "output parameters",
    "What is the major code of {t}?": "major code",
    "What error codes does {t} return?": "error code|error codes",
    "What is the XSD schema of {t}?": "xsd",
    "How do I get started with {t}?": "getting started",
    "What is the TLV type of {t}?": "tlv type",
    "What is the length of {t}?": "length",
    "What is the payload of {t}?": "payload data",
    "When would I use {t}?": "scenarios",
    "What command-line options does {t} have?": "command-line options",
    "What options does {t} have?": "options",
    "How do I debug {t}?": "debugging",
    "How do I install {t}?": "installation",
    "How do I configure {t}?": "configuration",
    "What are the security considerations for {t}?": "security",
    "What affects the performance of {t}?": "performance",
    "What are common questions about {t}?": "faq|frequently asked questions",
    "How is {t} used?": "usage summary table",
    "What status codes does {t} return?": "return status codes|status codes",
    "What are the measure attributes of {t}?": "measure attributes",
    "What is an INF example for {t}?": "inf file sample",
    "What are the set parameters of {t}?": "set property parameters",
    "What are the query parameters of {t}?": "get property parameters",
    "What does setting {t} return?": "set property results",
    "What does querying {t} return?": "get property results",
    "How does {t} complete?": "task completion indication",
    "What are the details of {t}?": "memory stop details",
    "What switches does {t} take?": "switches and arguments",
}
_GENERIC = {key: template for template, keys in _GENERIC_TEMPLATES.items() for key in keys.split("|")}
_PROPER = {
    "windows", "microsoft", "visual", "studio", "bluetooth", "azure", "hyper-v", "intel", "arm", "arm64", "linux",
    "android", "ethernet", "unicode", "xbox", "surface", "miracast", "qualcomm", "powershell", "windbg", "kd",
    "cdb", "ntsd", "devcon", "dbh", "gflags", "verifier", "defender", "vista", "xp", "english", "internet",
    "explorer", "office", "outlook", "github", "nuget", "winget",
    "direct3d", "directx", "usb", "pci", "wi-fi", "cortana", "uefi", "acpi", "north", "america",
}
_PROPER_PHRASES = re.compile(
    r"\b(?:Windows (?:Update|Server|Hello|Defender|Store|Driver Kit|Driver Frameworks|Hardware Lab Kit|Security"
    r"|Explorer|Installer|PE|RT|Ink|Mixed Reality|Terminal|Subsystem for Linux"
    r"|Performance (?:Toolkit|Analyzer|Recorder)"
    r"|Filtering Platform|Management Instrumentation|Error Reporting|Sockets|Runtime|Firewall|Media Player"
    r"|Portable Devices|Image Acquisition|Biometric Framework|Hardware Compatibility Program|Hardware Certification)"
    r"|Visual Studio|Microsoft (?:Store|Edge|Defender|Partner Center|Hardware Dev Center|Teams)"
    r"|(?:Windows )?Hardware Lab Kit"
    r"|(?:Static )?Driver Verifier|Application Verifier|Device Manager|Plug and Play|Event Viewer|Task Manager"
    r"|Secure Boot|Device Stage|Hyper-V [A-Z][a-z]+)\b"
)
# verbs that start an imperative heading ("Install the driver")
IMPERATIVE_VERBS = set(
    "access activate add allocate analyze apply assign attach authenticate authorize avoid bind browse build "
    "call cancel capture change check choose click clone close collect compare compile complete configure "
    "connect convert copy create debug declare decrease decrypt define delete deploy detect determine disable "
    "download edit emulate enable encrypt enter enumerate evaluate examine exit explore export expose extend "
    "extract find fix generate get handle identify implement import include increase initialize inspect "
    "install launch learn load locate manage migrate modify monitor mount navigate obtain open optimize pass "
    "perform port prepare press prevent protect provide publish query read reboot receive recover reduce "
    "refresh register reinstall release remove replace reset resolve restart restore retrieve review run save "
    "schedule secure select send set share sign simulate specify start stop submit switch synchronize track "
    "troubleshoot turn uninstall unload update upgrade use validate verify wait write".split()
)
# verbs that are as often nouns ("Request body", "Test results"): imperative only before "the", "a", "your"...
_AMBIGUOUS = set(
    "log map process report trace filter format package control list work pair sync go see keep request support "
    "record test view display measure boot flash plug unplug opt".split()
)
_DETERMINERS = set("the a an your this that these those it them all each any up out multiple new custom".split())
_NOT_GERUND = {"string", "thing", "during", "ring", "king", "spring", "nothing", "something", "anything", "everything",
               "morning", "evening", "ceiling", "warning", "timing", "padding", "pricing", "wording", "meaning"}
_E_STEMS = re.compile(
    r"(?:[^aeo]at|iz|yz|v|[^f]us|[aeiu]c|[nr]c|[bdgktpz]l|[^aeiouy]in|[^aeiou]id"
    r"|[^aeiou]ar|[^aeiou]ir|uir|ur|os|[^aeiou][aiou]k|ib|ud|[^aeiou]od|ag|ang|rg|rs|ns|yp|ys|[^aeiou][aiu]m|[^aeiou]il"
    r"|let|[^aeiou]ut|[^aeio]ez|siz|eas|^stor|^restor|^ignor|^explor|^scor|^shar|^compar|^prepar|^declar)$"
)
# gerunds the suffix rules get wrong ("writing" is not "writ"); checked against the rules in the tests
_GERUND_EXCEPTIONS = dict(
    pair.split("=")
    for pair in (
        "adding=add cancelling=cancel continuing=continue controlling=control creating=create focusing=focus "
        "hanging=hang labelling=label modelling=model panicking=panic queuing=queue routing=route "
        "signalling=signal syncing=sync travelling=travel using=use writing=write"
    ).split()
)


def base_verb(gerund: str) -> str:
    """Base form of an English gerund: "Debugging" -> "debug", "Creating" -> "create", "Querying" -> "query"."""
    word = gerund.lower()
    if word in _GERUND_EXCEPTIONS:
        return _GERUND_EXCEPTIONS[word]
    stem = word[:-3]
    if len(stem) > 2 and stem[-1] == stem[-2] and stem[-1] in "bdgmnprt":
        return stem[:-1]  # debugging, submitting, programming
    if _E_STEMS.search(stem) and not stem.endswith(("ll", "ss")):
        return stem + "e"
    return stem


def _capitalized(word: str) -> bool:
    return len(word) > 1 and word[0].isupper() and word[1:].islower() and word.isalpha()


def sentence_case(phrase: str, first: bool = True) -> str:
    """Lower the Title Case words of a heading, keeping acronyms, identifiers and proper names.

    Args:
        phrase: heading text.
        first: also lower the first word (for splicing the phrase into a question).

    Returns:
        The phrase in sentence case ("Handling PnP Start in a Storage Class Driver" ->
        "handling PnP start in a storage class driver").
    """
    protected = {m.start() + i for m in _PROPER_PHRASES.finditer(phrase) for i in range(m.end() - m.start())}
    words = phrase.split(" ")
    long_words = [w for w in words[1:] if len(w) > 2 and w[:1].isalpha()]
    title_case = sum(w[0].isupper() for w in long_words) >= max(1, (len(long_words) * 3 + 4) // 5)
    out = []
    pos = 0
    for i, word in enumerate(words):
        if (i > 0 or first) and (i == 0 or title_case) and pos not in protected:
            pieces = word.split("-")
            for j, piece in enumerate(pieces):
                core = piece.strip("()\"'“”,:;?!.")
                if _capitalized(core) and core.lower() not in _PROPER and (j == 0 or title_case):
                    pieces[j] = piece.replace(core, core.lower(), 1)
            word = "-".join(pieces)
        out.append(word)
        pos += len(word) + 1
    return " ".join(out)


def _plural(phrase: str) -> bool:
    words = re.sub(r"\s*\([^)]*\)", "", phrase).split()
    cut = next((i for i, w in enumerate(words) if i and w.lower() in _PREPOSITIONS | {"by", "at", "using"}), len(words))
    last = words[cut - 1].strip(",;:") if words else ""
    if not re.fullmatch(r"[A-Za-z0-9-]*[a-z0-9]s", last) or last.endswith(("ss", "us", "is", "ics")):
        return False
    return last.lower() not in {"windows", "status", "bus", "news", "series", "express", "access", "process"}


def be_verb(phrase: str) -> str:
    """The verb for a noun phrase: "are" when it is plural ("spin locks"), else "is"."""
    return "are" if _plural(phrase) else "is"


_KINDS = re.compile(
    r"^(?P<name>.+?)\s+(?P<kind>structure|struct|function|macro|callback function|callback|enumeration|enum|method"
    r"|interface|property|properties|class|element|attribute|event|routine|union|ioctl|control code|oid|rule"
    r"|warning|object|directive|section|entry|value|field|member|command|extension|keyword|setting|tlv)"
    r"(?P<tail>\s*\([^)]*\))?$",
    re.I,
)
_IDENT = re.compile(r"^[!.]?[A-Za-z_][\w.:!-]*(?:\s\([^)]*\))?$")
# a heading that is one code identifier: IRP_MJ_READ, SyncTime, !analyze, .reload, x64
_IDENTIFIER = re.compile(r"^(?:[!.][A-Za-z][\w.-]*|[A-Za-z]\w*(?:_\w*|[a-z][A-Z]\w*|\d\w*))(?:\s\([^)]*\))?$")


def _strip_noise(title: str) -> str:
    title = title.strip().lstrip("-•·* ")
    title = re.sub(r"\s*\((?:Windows Drivers|[\w]+\.h(?:pp)?)\)$", "", title)
    title = re.sub(
        r"^(?:Step|Phase|Part|Lab|Task|Exercise|Section|Module)\s+(?:\d+|[A-Z][a-z]+)\s*[:.—–-]?\s+(?=[A-Z])", "", title
    )
    title = re.sub(r"^(?:Walkthrough|Tutorial|Quickstart|Lab)\s*[:—–-]\s*", "", title)
    title = re.sub(r"^Example\s+\d+\s*[:.-]?\s*(?=[A-Z])", "", title)
    if len(title) > 100:  # a sentence used as a heading: keep its first sentence, then words up to ~100 chars
        title = re.split(r"(?<=[.!?])\s", title, maxsplit=1)[0].rstrip(".")
        if len(title) > 100:
            title = title[:100].rsplit(" ", 1)[0] + "…"
    return title.strip().rstrip(":").strip()


def page_topic(title: str, folder: str = "") -> str:
    """The page title as a noun phrase to splice into questions ("Spin Locks" -> "spin locks").

    Args:
        title: page title.
        folder: the page's folder (``debuggercmds`` titles are commands).

    Returns:
        e.g. "debugging a failed driver unload", "the KeSetEvent function", "bug check 0xA3 ACPI_DRIVER_INTERNAL".
    """
    title = _strip_noise(title)
    if "debuggercmds" in folder or re.match(r"^[!.][A-Za-z]", title):
        return f"the {title} {'extension' if title.startswith('!') else 'command'}"
    m = re.match(r"^(?:Introduction to|Overview of|About)\s+(.+)$", title, re.I) or re.match(
        r"^(.+?)\s+(?:Overview|Introduction)$", title, re.I
    )
    if m:
        return sentence_case(m.group(1))
    m = re.match(r"^What (?:is|are)\s+(.+?)\??$", title, re.I)
    if m:
        return sentence_case(m.group(1))
    if re.match(r"^Bug Check\b", title, re.I):
        return "bug check" + title[9:]
    m = _KINDS.match(title)
    if m and _IDENT.match(m.group("name")):
        return f"the {m.group('name')} {m.group('kind').lower()}{m.group('tail') or ''}"
    if _IDENT.match(title) and not _capitalized(title):
        return title
    return sentence_case(title.rstrip("?"))


def finish_question(question: str) -> str:
    """Tidy a question: one space between words, capital first letter, one "?" at the end."""
    question = re.sub(r"\s+", " ", question).strip().rstrip(".:;,")
    question = question[0].upper() + question[1:] if question else question
    return question if question.endswith("?") else question + "?"


def _how_do_i(phrase: str) -> str:
    phrase = re.sub(r"\byour\b", "my", re.sub(r"\byourself\b", "myself", phrase))
    return f"How do I {phrase}?"


_PREPOSITIONS = {"for", "of", "to", "between", "when", "in", "on", "with", "about", "that", "from", "during", "under"}


def verb_question(phrase: str) -> str | None:
    """A question from a heading that starts with a verb or question word (None when no rule applies).

    Rules for headings that start with a question word, "How to", "To", a gerund, an imperative verb or a
    plural noun with a preposition ("Requirements for ...")."""
    words = sentence_case(phrase, first=False).split()
    first = words[0].lower().strip(",:")
    rest = " ".join(words[1:])
    if first == "how" and len(words) > 2 and words[1].lower() == "to":
        return _how_do_i(sentence_case(" ".join(words[2:])))
    if phrase.endswith("?"):
        return " ".join(words)
    if first == "how":
        m = re.match(r"^(.+?)\s+(is|are)\s+(.+)$", rest)
        if m and len(words) > 3:
            return f"How {m.group(2)} {m.group(1)} {m.group(3)}?"
        m = re.match(r"^(.+?)\s+(works?|happens?)$", rest, re.I)
        if m:
            return f"How {'does' if m.group(2).lower().endswith('s') else 'do'} {m.group(1)} work?"
        for i, w in enumerate(words[2:], 2):
            if re.fullmatch(r"[a-z]{2,}[^su]s", w) and words[i - 1][:1].isalnum():
                verb = w[:-2] if re.search(r"(?:sh|ch|ss|x|z)es$", w) else w[:-1]
                return f"How does {' '.join(words[1:i])} {verb} {' '.join(words[i + 1:])}".strip() + "?"
        return " ".join(words) + "?"
    if first in {"what", "what's", "why", "when", "where", "which", "who", "can", "do", "does", "is", "are",
                 "should", "will", "could", "would", "did"}:
        return " ".join(words) + "?"
    if first == "to" and len(words) > 2 and words[1].lower() in IMPERATIVE_VERBS | _AMBIGUOUS:
        return _how_do_i(sentence_case(rest))
    if first.endswith("ing") and len(first) >= 5 and first not in _NOT_GERUND and words[0][:1].isupper():
        if first == "understanding":
            return f"What should I know about {sentence_case(rest)}?" if rest else None
        if not rest or words[1].lower() in {"and", "or"}:
            return None
        return _how_do_i(f"{base_verb(first)} {sentence_case(rest)}")
    second = words[1].lower() if len(words) > 1 else ""
    imperative = first in IMPERATIVE_VERBS and second and not second[:1].isdigit()
    if imperative or first in _AMBIGUOUS and second in _DETERMINERS:
        return _how_do_i(sentence_case(" ".join(words)))
    if len(words) > 2 and re.match(r"(?:best practices|design guidelines|known issues|common issues)\s", phrase, re.I):
        return f"What are the {sentence_case(' '.join(words))}?"
    if len(words) > 2 and second in _PREPOSITIONS and re.fullmatch(r"[a-z]{3,}[^su]s", first):
        return f"What are the {sentence_case(' '.join(words))}?"
    return None


def page_question(title: str, folder: str = "") -> str:
    """The question a page as a whole answers, from its title.

    Args:
        title: page title.
        folder: the page's folder (``debuggercmds`` pages are commands and extensions).

    Returns:
        e.g. "How do I debug a failed driver unload?" for "Debugging a Failed Driver Unload".
    """
    title = _strip_noise(title) or "this page"
    if re.match(r"^Bug Check\b", title, re.I):
        return finish_question(f"What does {page_topic(title)} mean")
    m = re.match(r"^(?:Code analysis )?(?:warning\s+(C\d+)|(C\d+)\s+warning)\b", title, re.I)
    if m:
        return finish_question(f"What does code analysis warning {m.group(1) or m.group(2)} mean")
    if "debuggercmds" in folder or re.match(r"^[!.][A-Za-z]", title):
        what = "" if re.search(r"\b(?:command|extension)s?$", title, re.I) else (
            " debugger extension" if title.startswith("!") else " debugger command")
        return finish_question(f"What does the {title}{what} do")
    m = _KINDS.match(title)
    if m and _IDENT.match(m.group("name")):
        kind = m.group("kind").lower()
        if kind == "rule":
            return finish_question(f"What does the {m.group('name')} rule{m.group('tail') or ''} check")
        if kind in {"function", "macro", "method", "routine", "command", "extension", "callback function"}:
            return finish_question(f"What does the {m.group('name')} {kind} do")
        return finish_question(f"What is the {m.group('name')} {kind}{m.group('tail') or ''}")
    verb_q = verb_question(title)
    if verb_q:
        return finish_question(verb_q)
    topic = page_topic(title)
    if " - " in title:
        return finish_question(f"What is {title}")
    return finish_question(f"What {be_verb(topic)} {topic}")


def generic_question(heading: str, title: str, folder: str = "") -> str | None:
    """The question a generic heading asks about its page.

    Args:
        heading: "Remarks", "Requirements", "Cause", "NMR_INVALID_STATE Parameters"...
        title: the page title.
        folder: the page's folder.

    Returns:
        e.g. "What are the requirements for spin locks?", or None when the heading is not a generic one.
    """
    key = re.sub(r"\s+", " ", heading.lower().strip(" :"))
    if key not in _GENERIC:  # "NMR_INVALID_STATE Parameters" on the NMR_INVALID_STATE page
        key = " ".join(w for w in key.split() if w not in title.lower().split())
    template = _GENERIC.get(key)
    if not template:
        return None
    topic = page_topic(title, folder)
    return finish_question(template.format(t=topic, be=be_verb(topic)))


def section_question(heading: str, title: str, folder: str = "") -> str:
    """The question a section answers, from its heading and the page title.

    Args:
        heading: the section heading (plain text).
        title: the page title (for generic headings such as "Remarks").
        folder: the page's folder.

    Returns:
        A short question ("What should I know about spin locks?" for "Remarks" on "Spin Locks").
    """
    heading = _strip_noise(heading)
    if not heading:
        return page_question(title, folder)
    if title.startswith("Application Verifier - Stop Codes"):
        return finish_question(f'What does the Application Verifier stop "{heading.rstrip(".")}" mean')
    generic = generic_question(heading, title, folder)
    if generic:
        return generic
    m = re.match(r"^(?:Introduction to|Overview of|About)\s+(.+)$|^(.+?)\s+(?:overview|introduction)$", heading, re.I)
    if m:
        topic = sentence_case(m.group(1) or m.group(2))
        return finish_question(f"What {be_verb(topic)} {topic}")
    verb_q = verb_question(heading)
    if verb_q:
        return finish_question(verb_q)
    kind = _KINDS.match(heading)
    if re.match(r"^Bug Check\b", heading, re.I) or kind and _IDENT.match(kind["name"]):
        return page_question(heading, folder)
    topic = page_topic(title, folder)
    if slugify(heading) in slugify(title):
        return page_question(title, folder)
    if _IDENTIFIER.match(heading):
        question = finish_question(f"What is {heading} in {topic}")
        return question if len(question) <= 120 and heading not in topic else finish_question(f"What is {heading}")
    phrase = sentence_case(heading)
    if len(heading.split()) >= 3:
        return finish_question(f"What {be_verb(phrase)} {phrase}")
    if " " not in phrase and not phrase.lower().endswith("ing"):
        question = finish_question(f"What {be_verb(phrase)} the {phrase} for {topic}")
    else:
        question = finish_question(f"What should I know about {phrase} for {topic}")
    return question if len(question) <= 120 else finish_question(f"What should I know about {phrase}")
