"""`kb ingest`: read sources, parse each changed file, and write its records to the store.

Incremental: a file whose content hash is unchanged is not parsed again; a changed file
replaces exactly its own pairs (ids derive from path + locator, so unchanged pairs keep their
ids and their cached embeddings); files gone from a folder or archive lose their pairs.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from sqlite_utils import Database

import ingest
from ingest.detect import NOT_A_SOURCE
from ingest.detect import decode
from ingest.detect import detect
from kb.embed import text_hash
from kb.errors import KBError
from kb.errors import ParseError
from kb.models import OpenQuestion
from kb.models import Pair
from kb.models import Sample
from kb.models import Script
from kb.models import SourceDoc
from kb.models import SourceMeta
from kb.models import make_pair_id
from kb.sources import Problem
from kb.sources import SourceFile
from kb.sources import is_archive
from kb.sources import walk
from kb.store import dumps
from kb.store import extract_identifiers
from kb.store import rows

EMBED_CHARS = 1200  # the model reads ~128 word pieces (~600 chars); more text only costs tokenizer time


@dataclass
class Summary:
    """What one ingest run did."""

    files_seen: int = 0
    unchanged: int = 0
    parsed: int = 0
    not_sources: int = 0
    pairs_added: int = 0
    pairs_updated: int = 0
    pairs_removed: int = 0
    pairs_unchanged: int = 0
    sources_removed: int = 0
    open_questions: int = 0
    samples: int = 0
    scripts: int = 0
    links: int = 0
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (the `--report` file)."""
        data = {k: v for k, v in self.__dict__.items() if k != "problems"}
        data["skipped"] = [{"path": p.path, "problem": p.problem} for p in self.problems]
        return data


def code_fingerprint() -> str:
    """Hash of everything that shapes parsed pairs: the parsers, the topic rules and aliases.

    Stored with each source, so a changed parser re-parses unchanged files (their unchanged pairs
    keep their ids and cached embeddings).
    """
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha1()
    files = sorted((root / "ingest").glob("*.py")) + [root / "kb" / "topics.py", root / "kb" / "pipeline.py",
                                                      root / "data" / "topics.yml"]
    for file in files:
        if file.exists():
            digest.update(file.name.encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()[:16]


def embed_text(question: str, answer: str) -> str:
    """The text the embedding model sees for a pair."""
    return f"{question}\n{answer}"[:EMBED_CHARS]


def pair_anchor(locator: dict[str, Any]) -> str:
    """The human-readable part of a stable reference (``path#anchor``)."""
    for key in ("section", "fact", "entry", "block"):
        if key in locator:
            return str(locator[key])
    if "question" in locator:
        return "q-" + "-".join(str(x) for x in locator["question"])
    return hashlib.sha1(dumps(locator).encode()).hexdigest()[:8]


def source_url(path: str) -> str | None:
    """Published URL of a docs or API reference file, from its path in the tree."""
    if path.startswith("windows-driver-docs-pr/") and path.endswith(".md"):
        rest = path[len("windows-driver-docs-pr/"):-3]
        rest = rest[: -len("index")].rstrip("/") if rest.endswith("index") else rest
        return "https://learn.microsoft.com/windows-hardware/drivers/" + rest
    if path.startswith("wdk-ddi-src/content/") and path.endswith(".md"):
        rest = path[len("wdk-ddi-src/content/"):-3]
        rest = rest[: -len("index")].rstrip("/") if rest.endswith("index") else rest
        return "https://learn.microsoft.com/windows-hardware/drivers/ddi/" + rest
    return None


class Classifier:
    """Topic assignment, from kb.topics when the taxonomy is available."""

    def __init__(self) -> None:
        try:
            from kb.topics import load_taxonomy
            self._taxonomy = load_taxonomy()
        except (ImportError, FileNotFoundError):  # pragma: no cover - before the taxonomy exists
            self._taxonomy = None

    def __call__(self, pair: Pair, path: str) -> list[str]:
        if pair.topics:
            return list(pair.topics)
        if self._taxonomy is None:
            return []
        # Thread pairs' headings repeat the question's first line: count it once.
        heading = "" if pair.heading and pair.heading[:40] in pair.question else pair.heading
        return self._taxonomy.classify(f"{heading}\n{pair.question}\n{pair.answer}", path, pair.api_names)


# Source kinds whose answers may hold debugger sessions or console commands worth keeping as scripts.
SCRIPT_KINDS = frozenset({"learn-doc", "sample-readme", "handbook", "thread", "article", "discourse", "mbox",
                          "stackexchange", "slack-export"})


def extract_pair_scripts(pairs: list[Pair], path: str) -> list[Script]:
    """Runnable snippets inside the answers of a file's pairs, located by pair and block."""
    try:
        from ingest.scripts import extract_scripts
    except ImportError:  # pragma: no cover
        return []
    found: list[Script] = []
    for pair in pairs:
        if "```" not in pair.answer:
            continue
        for script in extract_scripts(pair.answer, path):
            locator = {"pair": pair_anchor(pair.locator), **script.locator}
            if "part" in pair.locator:
                locator["part"] = pair.locator["part"]
            found.append(Script(commands=script.commands, tool=script.tool, locator=locator, title=script.title,
                                purpose=script.purpose, output=script.output, topics=script.topics,
                                extra={**script.extra, "pair_question": pair.question}))
    return found


@dataclass
class Parsed:
    meta: SourceMeta
    pairs: list[Pair]
    open_questions: list[OpenQuestion]
    scripts: list[Script]
    samples: list[Sample]


def parse_file(fmt: str, text: str, doc: SourceDoc) -> Parsed:
    """Run one parser and sort what it yields by record type.

    Raises:
        ParseError: the parser could not handle the file.
    """
    parser = ingest.get_parser(fmt)
    meta = SourceMeta()
    parsed = Parsed(meta, [], [], [], [])
    for record in parser(text, doc):
        if isinstance(record, SourceMeta):
            parsed.meta = record
        elif isinstance(record, Pair):
            parsed.pairs.append(record)
        elif isinstance(record, OpenQuestion):
            parsed.open_questions.append(record)
        elif isinstance(record, Script):
            parsed.scripts.append(record)
        elif isinstance(record, Sample):
            parsed.samples.append(record)
    return parsed


class Ingestor:
    """Writes parsed files into the store, one transaction per file."""

    def __init__(self, db: Database, fmt: str | None = None) -> None:
        self.db = db
        self.fmt = fmt
        self.classify = Classifier()
        self.summary = Summary()
        self.fingerprint = code_fingerprint()
        self.changed: set[str] = set()  # sources whose pairs must be relinked
        self.catalog_changed = False  # samples or scripts changed: every pair must be relinked

    def ingest_file(self, sf: SourceFile) -> None:
        """Ingest one file; problems are recorded in the summary, never raised."""
        self.summary.files_seen += 1
        try:
            data = sf.read()
        except OSError as exc:
            self.summary.problems.append(Problem(sf.path, f"cannot read file: {exc.strerror or exc}"))
            return
        digest = hashlib.sha1(data).hexdigest() + ":" + self.fingerprint
        row = self.db.execute("SELECT hash, origin FROM sources WHERE path = ?", [sf.path]).fetchone()
        if row and row[0] == digest:
            self.summary.unchanged += 1
            if row[1] != sf.origin:
                self.db.execute("UPDATE sources SET origin = ? WHERE path = ?", [sf.origin, sf.path])
            return
        try:
            text = decode(data)
            if not text.strip():  # parsers would yield nothing, silently
                raise ParseError("empty file (or only whitespace): nothing to ingest")
            fmt = self.fmt or detect(sf.path, text)
            if fmt == NOT_A_SOURCE:
                self.summary.not_sources += 1
                return
            kind = ingest.kind_of(fmt)
            parsed = parse_file(fmt, text, SourceDoc(path=sf.path, kind=kind, url=source_url(sf.path)))
            if not parsed.scripts and kind in SCRIPT_KINDS:
                parsed.scripts = extract_pair_scripts(parsed.pairs, sf.path)
        except KBError as exc:
            self.summary.problems.append(Problem(sf.path, str(exc)))
            return
        except RecursionError:
            self.summary.problems.append(Problem(sf.path, "content nested too deeply to parse"))
            return
        except Exception as exc:  # a parser bug must not lose the rest of the run
            self.summary.problems.append(Problem(sf.path, f"parser failed: {type(exc).__name__}: {exc}"))
            return
        with self.db.atomic():
            self._write(sf, digest, fmt, kind, parsed)
        self.summary.parsed += 1
        self.changed.add(sf.path)

    def _write(self, sf: SourceFile, digest: str, fmt: str, kind: str, parsed: Parsed) -> None:
        meta = parsed.meta
        self.db.execute(
            """INSERT INTO sources(path, origin, kind, format, hash, title, url, description, api_names, """
            """meta, ingested_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT(path) DO UPDATE SET origin=excluded.origin, kind=excluded.kind, format=excluded.format,
               hash=excluded.hash, title=excluded.title, url=excluded.url, description=excluded.description,
               api_names=excluded.api_names, meta=excluded.meta, ingested_at=excluded.ingested_at""",
            [sf.path, sf.origin, kind, fmt, digest, meta.title or sf.path.rsplit("/", 1)[-1],
             meta.url or source_url(sf.path), meta.description, dumps(list(meta.api_names)), dumps(meta.extra),
             time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())],
        )
        self.db.execute("DELETE FROM api_index WHERE source = ?", [sf.path])
        self.db.conn.executemany("INSERT OR IGNORE INTO api_index(name, source) VALUES (?, ?)",
                            [(name.lower(), sf.path) for name in meta.api_names])
        self._write_pairs(sf.path, parsed.pairs)
        self._write_open_questions(sf.path, parsed.open_questions)
        self._write_scripts(sf.path, parsed.scripts, curated=kind == "curated-script")
        self._write_samples(sf.path, parsed.samples)

    def _write_pairs(self, path: str, pairs: list[Pair]) -> None:
        existing = {r["id"]: r for r in rows(self.db, "SELECT n, id, content_hash, question, answer, topics, kind, "
                                                      "heading, rank, answered_by, locator, extra, api_names "
                                                      "FROM pairs WHERE source = ?", [path])}
        seen: set[str] = set()
        for position, pair in enumerate(pairs):
            locator = dict(pair.locator)
            pid = make_pair_id(path, locator)
            while pid in seen:  # a parser gave two pairs one locator: keep both, distinctly
                locator["dup"] = locator.get("dup", 0) + 1
                pid = make_pair_id(path, locator)
            seen.add(pid)
            topics = self.classify(pair, path)
            idents = extract_identifiers(f"{pair.question}\n{pair.answer}")
            ident_text = " ".join(list(pair.api_names) * 3 + idents)
            values = {
                "id": pid, "source": path, "position": position, "ref": f"{path}#{pair_anchor(locator)}",
                "locator": dumps(locator), "kind": pair.kind, "question": pair.question, "answer": pair.answer,
                "heading": pair.heading, "topics": dumps(topics), "answered_by": pair.answered_by, "rank": pair.rank,
                "api_names": dumps(list(pair.api_names)), "idents": ident_text, "extra": dumps(pair.extra),
                "content_hash": text_hash(embed_text(pair.question, pair.answer)),
            }
            old = existing.get(pid)
            if old is None:
                cur = self.db.execute(
                    f"INSERT INTO pairs({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
                    list(values.values()))
                n = cur.lastrowid
                self.summary.pairs_added += 1
            else:
                n = old["n"]
                if all(str(old.get(k)) == str(values[k]) for k in ("content_hash", "topics", "kind", "heading", "rank",
                                                                    "answered_by", "locator", "extra", "api_names")):
                    self.db.execute("UPDATE pairs SET position = ? WHERE n = ?", [position, n])
                    self.summary.pairs_unchanged += 1
                    continue
                sets = ", ".join(f"{k} = ?" for k in values)
                self.db.execute(f"UPDATE pairs SET {sets} WHERE n = ?", [*values.values(), n])
                self.summary.pairs_updated += 1
            self.db.execute("DELETE FROM pair_topics WHERE pair_n = ?", [n])
            self.db.conn.executemany("INSERT OR IGNORE INTO pair_topics(pair_n, topic) VALUES (?, ?)",
                                     [(n, t) for t in topics])
        gone = [r["n"] for pid, r in existing.items() if pid not in seen]
        self._delete_pairs(gone)

    def _delete_pairs(self, ns: Iterable[int]) -> None:
        ns = list(ns)
        for n in ns:
            self.db.execute("DELETE FROM pair_topics WHERE pair_n = ?", [n])
            self.db.execute("DELETE FROM pairs WHERE n = ?", [n])
        self.summary.pairs_removed += len(ns)

    def _write_open_questions(self, path: str, items: list[OpenQuestion]) -> None:
        self.db.execute("DELETE FROM open_questions WHERE source = ? AND origin = 'source'", [path])
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        for item in items:
            self.db.execute(
                "INSERT OR REPLACE INTO open_questions(id, source, origin, locator, question, asked_by, topics, "
                "created_at) VALUES (?, ?, 'source', ?, ?, ?, ?, ?)",
                [make_pair_id(path, item.locator), path, dumps(item.locator), item.question, item.asked_by,
                 dumps(list(item.topics)), now])
        self.summary.open_questions += len(items)

    def _write_scripts(self, path: str, items: list[Script], curated: bool) -> None:
        # Curated scripts can link to any pair (task match): a change there relinks everything. Scripts cut from a
        # page link only to that page's pairs, which are relinked with the page anyway.
        if (self.db.execute("DELETE FROM scripts WHERE source = ?", [path]).rowcount or items) and curated:
            self.catalog_changed = True
        for item in items:
            sid = item.extra.get("id") or (Path(str(item.locator["script"])).stem if "script" in item.locator
                                           else make_pair_id(path, item.locator))
            self.db.execute(
                "INSERT OR REPLACE INTO scripts(id, source, locator, tool, title, purpose, commands, output, topics, "
                "extra) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [sid, path, dumps(item.locator), item.tool, item.title, item.purpose, item.commands, item.output,
                 dumps(list(item.topics)), dumps(item.extra)])
        self.summary.scripts += len(items)

    def _write_samples(self, path: str, items: list[Sample]) -> None:
        old = [r[0] for r in self.db.execute("SELECT path FROM samples WHERE source = ?", [path]).fetchall()]
        for sample_path in old:
            self.db.execute("DELETE FROM sample_ddis WHERE sample = ?", [sample_path])
        if self.db.execute("DELETE FROM samples WHERE source = ?", [path]).rowcount or items:
            self.catalog_changed = True
        for s in items:
            calls = {ddi: [list(place) for place in places] for ddi, places in s.ddi_calls.items()}
            self.db.execute(
                "INSERT OR REPLACE INTO samples(path, source, title, description, url, driver_types, inf_classes, "
                "ddi_calls, extra) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [s.path, path, s.title, s.description, s.url, dumps(list(s.driver_types)), dumps(list(s.inf_classes)),
                 dumps(calls), dumps(s.extra)])
            self.db.conn.executemany("INSERT OR IGNORE INTO sample_ddis(ddi, sample) VALUES (?, ?)",
                                [(ddi, s.path) for ddi in calls])
        self.summary.samples += len(items)

    def ingest_clone(self, root: Path) -> str:
        """Scan a Windows-driver-samples checkout into samples; returns the pseudo source path it is stored under."""
        from ingest.samples_scan import fallback_ddis
        from ingest.samples_scan import scan_clone

        known = {r[0] for r in self.db.execute("SELECT DISTINCT name FROM api_index")}
        # api_index keeps names lowercased; the scanner matches exact spellings, so use the reference's own names.
        names = {n for r in self.db.execute("SELECT api_names FROM sources WHERE kind = 'api-ref'")
                 for n in json.loads(r[0])} if known else set()
        path = f"{root.resolve().name}/.samples-scan"
        samples = list(scan_clone(root, names or fallback_ddis()))
        digest = hashlib.sha1(dumps([s.path for s in samples]).encode()).hexdigest()
        parsed = Parsed(SourceMeta(title=f"Sample drivers scanned from {root.name}"), [], [], [], samples)
        with self.db.atomic():
            self._write(SourceFile(str(root.resolve()), path, 0, lambda: b""), digest, "samples-scan",
                        "samples-catalog", parsed)
        self.summary.files_seen += 1
        self.summary.parsed += 1
        return path

    def remove_missing(self, origin: str, seen_paths: set[str]) -> None:
        """Drop sources (and their pairs) of ``origin`` that the last full walk did not see."""
        stale = [r[0] for r in self.db.execute("SELECT path FROM sources WHERE origin = ?", [origin]).fetchall()
                 if r[0] not in seen_paths]
        for path in stale:
            kind = self.db.execute("SELECT kind FROM sources WHERE path = ?", [path]).fetchone()[0]
            with self.db.atomic():
                self._delete_pairs(
                    r[0] for r in self.db.execute("SELECT n FROM pairs WHERE source = ?", [path]).fetchall())
                self._write_open_questions(path, [])
                self._write_scripts(path, [], curated=kind == "curated-script")
                self._write_samples(path, [])
                self.db.execute("DELETE FROM api_index WHERE source = ?", [path])
                self.db.execute("DELETE FROM sources WHERE path = ?", [path])
        self.summary.sources_removed += len(stale)
        self.changed.update(stale)


def _is_clone(path: Path) -> bool:
    try:
        from ingest.samples_scan import is_samples_clone
    except ImportError:  # pragma: no cover
        return False
    return is_samples_clone(path)


def run(db: Database, sources: Iterable[Path], fmt: str | None = None,
        progress: Callable[[SourceFile], None] | None = None, samples_ref: str = "main") -> Summary:
    """Ingest every source into the store.

    Args:
        db: the store.
        sources: folders, archives and files named by the user.
        fmt: force this format for every file (``None``: detect per file).
        progress: called once per file, for a progress bar.
        samples_ref: commit for sample file:line links when the catalog names none.

    Returns:
        The run's ``Summary``; unreadable or unparseable files are in ``summary.problems``.
    """
    started = time.perf_counter()
    worker = Ingestor(db, fmt)
    if fmt is not None:
        ingest.get_parser(fmt)  # fail fast on an unknown --format
    for source in sources:
        source = Path(source)
        problems_before = len(worker.summary.problems)
        seen: set[str] = set()
        files = walk(source, worker.summary.problems)
        if source.is_dir() and _is_clone(source):
            seen.add(worker.ingest_clone(source))
            files = (sf for sf in files if sf.path.lower().endswith("readme.md"))
        for sf in files:
            seen.add(sf.path)
            worker.ingest_file(sf)
            if progress:
                progress(sf)
        whole_source_failed = any(p.path == str(source) for p in worker.summary.problems[problems_before:])
        if (source.is_dir() or is_archive(source)) and not whole_source_failed:
            worker.remove_missing(str(source.resolve()), seen)
    from kb.linking import relink
    if worker.catalog_changed:
        worker.summary.links = relink(db, samples_ref=samples_ref)
    elif worker.changed:
        worker.summary.links = relink(db, sorted(worker.changed), samples_ref=samples_ref)
    worker.summary.seconds = time.perf_counter() - started
    return worker.summary
