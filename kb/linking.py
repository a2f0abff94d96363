"""Links from pairs to the sample drivers and scripts that show them in practice, each with a reason.

Reasons, strongest first: ``mentioned`` (the pair names the sample), ``calls-ddi`` (a sample calls a DDI
the pair is about; evidence is the file and line), ``from-page`` (a script extracted from the same
text), ``task-match`` (a script runs the tools the pair talks about), and ``topic`` (a last-resort
suggestion by topic).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from sqlite_utils import Database

from kb.store import dumps
from kb.store import loads
from kb.store import rows

REASON_WEIGHT = {"mentioned": 4.0, "calls-ddi": 3.0, "from-page": 2.5, "task-match": 2.0, "topic": 0.5}
MAX_SAMPLES = 3
MAX_SCRIPTS = 2
COMMON_DDI_SAMPLES = 25  # a DDI called by more samples than this says little about any one of them
KNOWN_TOOLS = frozenset(
    """verifier pnputil devcon bcdedit tracelog tracefmt tracepdb traceview signtool inf2cat makecert certmgr
    msbuild infverif stampinf kdnet gflags poolmon logman wpr xperf windbg kd usbview setupapi""".split()
)
DEBUGGER_CMD_RE = re.compile(r"(?<![\w/])(![a-z][\w]*(?:\.[a-z][\w]*)?|\.(?:reload|symfix|sympath|bugcheck|trap|cxr|"
                             r"thread|process|dump|kdfiles|load|loadby|chain|frame|exr|ecxr))\b", re.I)
WORD_RE = re.compile(r"[A-Za-z0-9_]+")
# First folder of a sample's path -> topic, for last-resort suggestions.
SAMPLE_FOLDER_TOPICS = {
    "usb": "usb", "network": "networking", "storage": "storage", "filesys": "filesystems", "audio": "audio",
    "bluetooth": "bluetooth", "hid": "hid", "input": "hid", "serial": "serial-spb-gpio", "spb": "serial-spb-gpio",
    "gpio": "serial-spb-gpio", "pofx": "power", "power": "power", "pci": "pci", "security": "security",
    "wmi": "tracing", "tools": "testing-verifier", "video": "display", "print": "print",
}


def pair_tool_keys(text: str) -> set[str]:
    """Debugger commands and command-line tools a text talks about (lowercase)."""
    keys = {m.group(1).lower() for m in DEBUGGER_CMD_RE.finditer(text)}
    keys.update(w for w in (x.lower() for x in WORD_RE.findall(text)) if w in KNOWN_TOOLS)
    return keys


def script_keys(commands: str) -> set[str]:
    """The commands a script runs, as keys comparable with ``pair_tool_keys``."""
    keys: set[str] = set()
    for line in commands.splitlines():
        line = re.sub(r"^\s*(?:\d+:\s*)?(?:kd|lkd|\d+:\d+)>\s*", "", line).strip()
        if not line or line.startswith(("$$", "#", "rem ", "::", "REM ")):
            continue
        keys.update(pair_tool_keys(line))
        first = WORD_RE.findall(line.split()[0].lower().removesuffix(".exe")) if line.split() else []
        if first and first[0] in KNOWN_TOOLS:
            keys.add(first[0])
    return keys


@dataclass
class SampleInfo:
    path: str
    title: str
    url: str
    driver_types: list[str]
    ddi_count: int
    calls: dict[str, list[list[Any]]]
    blob_base: str
    topics: set[str] = field(default_factory=set)


@dataclass
class ScriptInfo:
    id: str
    source: str
    title: str
    keys: set[str]
    topics: set[str]
    curated: bool
    first_command: str


class Linker:
    """Computes links for pairs from the samples, scripts and alias table in the store."""

    def __init__(self, db: Database, samples_ref: str = "main") -> None:
        self.db = db
        self.samples: dict[str, SampleInfo] = {}
        for r in rows(db, "SELECT path, title, url, driver_types, ddi_calls, extra FROM samples"):
            calls = loads(r["ddi_calls"], {})
            extra = loads(r["extra"], {})
            # Line numbers are only right at the commit the catalog was built from.
            base = extra.get("blob_base") if extra.get("commit") else None
            info = SampleInfo(r["path"], r["title"], r["url"], loads(r["driver_types"], []), len(calls), calls,
                              base or f"https://github.com/microsoft/Windows-driver-samples/blob/{samples_ref}/")
            folder = r["path"].split("/", 1)[0].lower()
            info.topics = {t for t in [SAMPLE_FOLDER_TOPICS.get(folder)] if t}
            info.topics.update(t.lower() for t in info.driver_types if t.lower() in ("kmdf", "umdf", "wdm"))
            self.samples[r["path"]] = info
        self.callers: dict[str, list[str]] = {}
        for ddi, sample in db.execute("SELECT ddi, sample FROM sample_ddis"):
            if sample in self.samples:
                self.callers.setdefault(ddi.lower(), []).append(sample)
        self.scripts: list[ScriptInfo] = []
        for r in rows(db, "SELECT s.id, s.source, s.title, s.commands, s.topics, src.kind AS kind FROM scripts s "
                          "LEFT JOIN sources src ON src.path = s.source"):
            first = next((ln.strip() for ln in r["commands"].splitlines() if ln.strip()), "")
            self.scripts.append(ScriptInfo(r["id"], r["source"], r["title"], script_keys(r["commands"]),
                                           set(loads(r["topics"], [])), r["kind"] == "curated-script", first))
        self.scripts_by_source: dict[str, list[ScriptInfo]] = {}
        for script in self.scripts:
            self.scripts_by_source.setdefault(script.source, []).append(script)
        try:
            from kb.sample_mentions import load_aliases
            self.aliases = [a for a in load_aliases() if a.sample_path in self.samples]
        except (ImportError, FileNotFoundError, ValueError):  # pragma: no cover - table missing
            self.aliases = []

    # -- samples ----------------------------------------------------------------------------------------------------
    def _mentions(self, text: str) -> list[tuple[str, dict[str, Any]]]:
        if not self.aliases:
            return []
        from kb.sample_mentions import find_sample_mentions
        out: dict[str, dict[str, Any]] = {}
        for m in find_sample_mentions(text, self.aliases):
            out.setdefault(m.sample_path, {"alias": m.alias, "text": text[m.start:m.end]})
        return list(out.items())

    def _ddi_samples(self, ddis: list[str], topics: set[str], strict: bool) -> list[tuple[str, dict[str, Any]]]:
        chosen: dict[str, dict[str, Any]] = {}
        for ddi in ddis:
            callers = self.callers.get(ddi.lower(), [])
            if not callers or (not strict and len(callers) > COMMON_DDI_SAMPLES):
                continue
            want = "KMDF" if ddi.lower().startswith(("wdf", "evt_wdf")) else None
            if "umdf" in topics:
                want = "UMDF"

            def rank(path: str, want: str | None = want) -> tuple[int, int, int, str]:
                info = self.samples[path]
                # Static-analysis test drivers (tools/sdv) break rules on purpose: never the sample to learn from.
                broken = 1 if "/sdv/" in f"/{path.lower()}/" or "fail" in path.lower() else 0
                return (broken, 0 if want and want in info.driver_types else 1, info.ddi_count, path)

            for path in sorted(callers, key=rank)[:2]:
                info = self.samples[path]
                places = info.calls.get(ddi) or next((v for k, v in info.calls.items() if k.lower() == ddi.lower()), [])
                file, line = (places[0] + [None, None])[:2] if places else (None, None)
                evidence = {"ddi": ddi, "file": file, "line": line,
                            "url": f"{info.blob_base}{file}#L{line}" if file else info.url}
                chosen.setdefault(path, evidence)
            if len(chosen) >= MAX_SAMPLES:
                break
        return list(chosen.items())[:MAX_SAMPLES]

    # -- scripts ----------------------------------------------------------------------------------------------------
    def _scripts(self, source: str, text: str, topics: set[str]) -> list[tuple[str, str, dict[str, Any]]]:
        out: dict[str, tuple[str, dict[str, Any]]] = {}
        for script in self.scripts_by_source.get(source, []):
            if script.first_command and script.first_command[:60] in text:
                out[script.id] = ("from-page", {"command": script.first_command[:120]})
        keys = pair_tool_keys(text)
        if keys:
            scored = []
            for script in self.scripts:
                if not script.curated or script.id in out:
                    continue
                common = keys & script.keys
                if common:
                    scored.append((len(common) + 0.5 * len(topics & script.topics), script.id, sorted(common)))
            for _score, sid, common in sorted(scored, key=lambda x: (-x[0], x[1]))[:MAX_SCRIPTS]:
                out.setdefault(sid, ("task-match", {"tools": common}))
        return [(sid, reason, ev) for sid, (reason, ev) in out.items()][:MAX_SCRIPTS + 1]

    # -- one pair ---------------------------------------------------------------------------------------------------
    def links_for(self, pair: dict[str, Any]) -> list[dict[str, Any]]:
        """Links for one pair row.

        The row has ``question``, ``answer``, ``api_names``, ``idents``, ``topics``, ``source`` and ``kind``.
        """
        text = f"{pair['question']}\n{pair['answer']}"
        topics = set(loads(pair["topics"], [])) if isinstance(pair["topics"], str) else set(pair["topics"])
        links: list[dict[str, Any]] = []
        seen_samples: set[str] = set()
        for path, evidence in self._mentions(text):
            links.append({"target_type": "sample", "target": path, "reason": "mentioned", "evidence": evidence})
            seen_samples.add(path)
        api_names = loads(pair["api_names"], []) if isinstance(pair["api_names"], str) else list(pair["api_names"])
        strict = bool(api_names) and pair.get("source_kind") == "api-ref"
        ddis = api_names if strict else list(dict.fromkeys(api_names + pair.get("idents", "").split()))
        for path, evidence in self._ddi_samples(ddis, topics, strict):
            if path not in seen_samples and len(seen_samples) < MAX_SAMPLES:
                links.append({"target_type": "sample", "target": path, "reason": "calls-ddi", "evidence": evidence})
                seen_samples.add(path)
        script_links = self._scripts(pair["source"], text, topics)
        for sid, reason, evidence in script_links:
            links.append({"target_type": "script", "target": sid, "reason": reason, "evidence": evidence})
        if not seen_samples and topics:
            fallback = sorted((p for p, s in self.samples.items() if s.topics & topics - {"kmdf", "umdf", "wdm"}),
                              key=lambda p: self.samples[p].ddi_count)
            if fallback:
                links.append({"target_type": "sample", "target": fallback[0], "reason": "topic",
                              "evidence": {"topics": sorted(self.samples[fallback[0]].topics & topics)}})
        if not script_links and topics:
            best = sorted((s for s in self.scripts if s.curated and s.topics & topics),
                          key=lambda s: (-len(s.topics & topics), s.id))
            if best:
                links.append({"target_type": "script", "target": best[0].id, "reason": "topic",
                              "evidence": {"topics": sorted(best[0].topics & topics)}})
        for link in links:
            link["weight"] = REASON_WEIGHT[link["reason"]]
        return links


def relink(db: Database, sources: Iterable[str] | None = None, samples_ref: str = "main") -> int:
    """Recompute the links of the pairs of ``sources`` (None: of every pair).

    Args:
        db: the store.
        sources: source paths whose pairs changed; None relinks everything.
        samples_ref: commit for sample file:line links when the catalog names none.

    Returns:
        The number of links written.
    """
    linker = Linker(db, samples_ref)
    where, params = "", []
    if sources is not None:
        sources = list(sources)
        if not sources:
            return 0
        where, params = f"WHERE p.source IN ({','.join('?' * len(sources))})", sources
    total = 0
    batch: list[tuple[Any, ...]] = []
    with db.atomic():
        if sources is None:
            db.execute("DELETE FROM links")
        else:
            db.execute(f"DELETE FROM links WHERE pair_n IN (SELECT n FROM pairs p {where})", params)
        for pair in rows(db, f"""SELECT p.n, p.question, p.answer, p.api_names, p.idents, p.topics, p.source, p.kind,
                                        s.kind AS source_kind FROM pairs p JOIN sources s """
                             f"""ON s.path = p.source {where}""",
                         params):
            for link in linker.links_for(pair):
                batch.append((pair["n"], link["target_type"], link["target"], link["reason"], dumps(link["evidence"]),
                              link["weight"]))
            if len(batch) > 5000:
                db.conn.executemany("INSERT OR IGNORE INTO links VALUES (?, ?, ?, ?, ?, ?)", batch)
                total += len(batch)
                batch = []
        db.conn.executemany("INSERT OR IGNORE INTO links VALUES (?, ?, ?, ?, ?, ?)", batch)
        total += len(batch)
    return total


def attach(db: Database, results: dict[int, dict[str, Any]]) -> None:
    """Fill ``samples`` and ``scripts`` of hydrated results (pair n -> result) from the links table."""
    if not results:
        return
    ns = list(results)
    sql = (f"""SELECT l.pair_n, l.target_type, l.target, l.reason, l.evidence, l.weight,
                     sm.title AS sample_title, sm.url AS sample_url, sc.title AS script_title, """
           f"""sc.source AS script_source
              FROM links l LEFT JOIN samples sm ON l.target_type = 'sample' AND sm.path = l.target
              LEFT JOIN scripts sc ON l.target_type = 'script' AND sc.id = l.target
              WHERE l.pair_n IN ({','.join('?' * len(ns))}) ORDER BY l.weight DESC, l.target""")
    for r in rows(db, sql, ns):
        item = results[r["pair_n"]]
        evidence = loads(r["evidence"], {})
        if r["target_type"] == "sample" and r["sample_title"] is not None:
            item["samples"].append({"path": r["target"], "title": r["sample_title"], "url": r["sample_url"],
                                    "reason": r["reason"], "evidence": evidence})
        elif r["target_type"] == "script" and r["script_title"] is not None:
            item["scripts"].append({"id": r["target"], "path": r["script_source"], "title": r["script_title"],
                                    "url": f"/scripts/{r['target']}", "reason": r["reason"], "evidence": evidence})
