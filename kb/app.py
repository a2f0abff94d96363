"""``KB``: the facade over store, embedder and index that every adapter uses (see kb.service)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from kb import index as vindex
from kb import settings as kb_settings
from kb.errors import BadQuery
from kb.errors import IndexMismatch
from kb.errors import IndexNotBuilt
from kb.errors import NotFound
from kb.errors import UnknownTopic
from kb.search import Filters
from kb.search import SearchParams
from kb.search import hydrate
from kb.search import search as run_search
from kb.store import open_db
from kb.store import rows


class KB:
    """One per process: thread-local store connections, one embedder, an index reloaded when rebuilt."""

    def __init__(self, settings: dict[str, Any], embedder: Any = None) -> None:
        self.settings = settings
        self.data_dir = Path(settings["DATA_DIR"])
        self.db_path = self.data_dir / "kb.sqlite"
        self.index_dir = self.data_dir / "index"
        self._local = threading.local()
        self._embedder = embedder
        self._lock = threading.RLock()  # index() loads the embedder while holding it
        self._index: Any = None
        self._index_meta: dict[str, Any] | None = None
        self._index_mtime: float | None = None

    @classmethod
    def open(cls, settings: dict[str, Any] | None = None, embedder: Any = None) -> KB:
        """Open the KB described by settings (default: ``kb.settings.load()``)."""
        merged = kb_settings.load()
        merged.update({k: v for k, v in (settings or {}).items() if k in merged})
        return cls(merged, embedder)

    # -- resources ----------------------------------------------------------------------------------------------
    @property
    def db(self) -> Database:
        """This thread's connection to the store."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = open_db(self.db_path)
            self._local.db = db
        return db

    @property
    def embedder(self) -> Any:
        """The embedding model, loaded on first use."""
        if self._embedder is None:
            with self._lock:
                if self._embedder is None:
                    from kb.embed import load_embedder
                    self._embedder = load_embedder(self.settings)
        return self._embedder

    def index(self) -> Any:
        """The current vector index, reloaded when `kb ingest` has switched to a new one; None if never built."""
        meta_file = self.index_dir / vindex.META_FILE
        try:
            mtime = meta_file.stat().st_mtime_ns
        except FileNotFoundError:
            return None
        if mtime != self._index_mtime:
            with self._lock:
                if mtime != self._index_mtime:
                    for attempt in range(3):
                        try:
                            index, meta = vindex.load(self.index_dir, self.embedder.name, self.embedder.dim)
                            break
                        except FileNotFoundError:  # switched again while we read it: take the newer one
                            if attempt == 2:
                                raise
                    self._index, self._index_meta, self._index_mtime = index, meta, mtime
        return self._index

    def search_params(self, k: int | None) -> SearchParams:
        """Search knobs from the settings table."""
        s = self.settings
        return SearchParams(k=k or int(s["TOP_K"]), candidates=int(s["CANDIDATES"]), rrf_k=int(s["RRF_K"]),
                            dense_weight=float(s["DENSE_WEIGHT"]), keyword_weight=float(s["KEYWORD_WEIGHT"]),
                            ident_weight=float(s["KEYWORD_WEIGHT"]))

    # -- the service ----------------------------------------------------------------------------------------------
    def check_query(self, query: str, k: int | None) -> None:
        """Validate user input before any work.

        Raises:
            BadQuery: empty or oversized query, k out of range.
        """
        if query is None or not query.strip():
            raise BadQuery("empty query: type a question, an error message or an API name (q=...)")
        limit = int(self.settings["MAX_QUERY_CHARS"])
        if len(query) > limit:
            raise BadQuery(f"query too long ({len(query)} characters, limit {limit}): shorten it to the essentials")
        if k is not None and not 1 <= k <= int(self.settings["MAX_K"]):
            raise BadQuery(f"k must be between 1 and {self.settings['MAX_K']}")

    def search(self, query: str, k: int | None = None, topics: tuple[str, ...] = (), kinds: tuple[str, ...] = (),
               legs: tuple[str, ...] | None = None) -> dict[str, Any]:
        """Hybrid search (see kb.service.KBService.search)."""
        self.check_query(query, k)
        if topics:
            known = {t["id"] for t in self.topics()}
            for topic in topics:
                if topic not in known:
                    raise UnknownTopic(f"unknown topic {topic!r}; known topics: {', '.join(sorted(known))}")
        params = self.search_params(k)
        if legs is not None:
            params.legs = legs
        try:
            index = self.index() if "dense" in params.legs else None
        except (IndexNotBuilt, IndexMismatch):
            index = None  # keyword legs still answer; `kb stats` and /api/health say why dense is off
        return run_search(self.db, query, index=index, embedder=self.embedder if index is not None else None,
                          params=params, filters=Filters(tuple(topics), tuple(kinds)))

    def get_pair(self, pair_id: str) -> dict[str, Any]:
        """One pair with related pairs (see kb.service)."""
        row = self.db.execute("SELECT n, question FROM pairs WHERE id = ? AND hidden = 0", [pair_id]).fetchone()
        if row is None:
            raise NotFound(f"no pair with id {pair_id!r}: search for it again, the KB may have been re-ingested")
        item = hydrate(self.db, [row[0]])[row[0]]
        related: list[dict[str, Any]] = []
        try:
            found = self.search(row[1][:900], k=6)["results"]
            related = [r for r in found if r["id"] != pair_id][:5]
        except BadQuery:
            pass
        item["related"] = related
        return item

    def pair_by_ref(self, ref: str) -> dict[str, Any] | None:
        """The first pair with a stable reference ``path#anchor`` (or of the path alone), or None."""
        path, _, anchor = ref.partition("#")
        if anchor:
            row = self.db.execute("SELECT n FROM pairs WHERE ref = ? ORDER BY position LIMIT 1", [ref]).fetchone()
        else:
            row = self.db.execute("SELECT n FROM pairs WHERE source = ? ORDER BY position LIMIT 1", [path]).fetchone()
        return hydrate(self.db, [row[0]])[row[0]] if row else None

    def record_feedback(self, query: str, pair_id: str, verdict: str, reason: str = "", origin: str = "web",
                        user: str | None = None) -> int:
        """Store a helpful / not-helpful verdict for a pair on a query (used in later rankings).

        Raises:
            NotFound: no such pair.
            BadQuery: unknown verdict.
        """
        from kb import feedback

        if self.db.execute("SELECT 1 FROM pairs WHERE id = ?", [pair_id]).fetchone() is None:
            raise NotFound(f"no pair with id {pair_id!r}")
        try:
            return feedback.record(self.db, query, pair_id, verdict, reason, origin, user)
        except ValueError as exc:
            raise BadQuery(str(exc)) from exc

    def record_open_question(self, question: str, origin: str = "slack", asked_by: str | None = None,
                             context: dict[str, Any] | None = None) -> str:
        """Keep a question the KB could not answer confidently, for maintainers.

        Returns:
            The open question's id (the same question asked again keeps one entry).
        """
        import hashlib
        import time

        from kb.store import dumps

        qid = "q-" + hashlib.sha1(f"{origin}\n{' '.join(question.lower().split())}".encode()).hexdigest()[:16]
        self.db.execute(
            "INSERT OR REPLACE INTO open_questions(id, source, origin, locator, question, asked_by, topics, created_at)"
            " VALUES (?, NULL, ?, ?, ?, ?, '[]', ?)",
            [qid, origin, dumps(context or {}), question, asked_by, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())])
        return qid

    def open_questions(self, limit: int = 200) -> list[dict[str, Any]]:
        """Unanswered questions: from threads (with their source) and from the bot."""
        from kb.store import loads

        out = []
        for r in rows(self.db, """SELECT o.id, o.source, o.origin, o.locator, o.question, o.asked_by, o.created_at,
                                         s.title AS source_title, s.url AS source_url
                                  FROM open_questions o LEFT JOIN sources s ON s.path = o.source
                                  ORDER BY o.origin, o.source, o.created_at LIMIT ?""", [limit]):
            r["locator"] = loads(r["locator"], {})
            out.append(r)
        return out

    def topics(self) -> list[dict[str, Any]]:
        """All topics with pair counts."""
        counts = {r[0]: r[1] for r in self.db.execute("SELECT topic, count(*) FROM pair_topics GROUP BY topic")}
        try:
            from kb.topics import load_taxonomy
            taxonomy = load_taxonomy()
            out = [{"id": t.id, "name": t.name, "description": t.description, "count": counts.get(t.id, 0)}
                   for t in taxonomy.topics]
        except (ImportError, FileNotFoundError):  # pragma: no cover
            out = [{"id": t, "name": t, "description": "", "count": c} for t, c in sorted(counts.items())]
        return out

    def topic_pairs(self, topic: str, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
        """Pairs tagged with a topic: handbook first, then docs, reference and threads."""
        if topic not in {t["id"] for t in self.topics()}:
            raise UnknownTopic(f"unknown topic {topic!r}: see /topics for the list")
        order = "CASE s.kind WHEN 'handbook' THEN 0 WHEN 'learn-doc' THEN 1 WHEN 'thread' THEN 2 ELSE 3 END"
        ns = [r[0] for r in self.db.execute(
            f"""SELECT p.n FROM pair_topics t JOIN pairs p ON p.n = t.pair_n JOIN sources s ON s.path = p.source
                WHERE t.topic = ? AND p.hidden = 0 ORDER BY {order}, p.source, p.position LIMIT ? OFFSET ?""",
            [topic, limit, offset])]
        found = hydrate(self.db, ns)
        return [found[n] for n in ns if n in found]

    def source_kinds(self) -> list[dict[str, Any]]:
        """Source kinds present, with pair counts."""
        return [{"kind": r["kind"], "count": r["count"]} for r in rows(
            self.db, "SELECT s.kind AS kind, count(p.n) AS count FROM sources s JOIN pairs p ON p.source = s.path "
                     "GROUP BY s.kind ORDER BY count DESC")]

    def stats(self) -> dict[str, Any]:
        """Counts of everything, and the index state."""
        db = self.db

        def count(sql: str) -> int:
            return int(db.execute(sql).fetchone()[0])

        meta = vindex.read_meta(self.index_dir)
        return {
            "sources": count("SELECT count(*) FROM sources"),
            "pairs": count("SELECT count(*) FROM pairs WHERE hidden = 0"),
            "open_questions": count("SELECT count(*) FROM open_questions"),
            "samples": count("SELECT count(*) FROM samples"),
            "scripts": count("SELECT count(*) FROM scripts"),
            "by_kind": {r["kind"]: r["count"] for r in self.source_kinds()},
            "index": meta or {"built": False, "hint": "run `kb ingest SOURCE...` to build it"},
        }
