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

    # -- sources, samples, scripts ----------------------------------------------------------------------------------
    def get_source(self, path: str) -> dict[str, Any]:
        """One source with all its pairs in reading order (a thread page, a docs page).

        Returns:
            ``{"path", "kind", "title", "url", "description", "meta", "pairs": [SearchResult...],
            "open_questions": [...]}``.

        Raises:
            NotFound: no such source.
        """
        from kb.store import loads

        row = next(rows(self.db, "SELECT path, kind, title, url, description, meta FROM sources WHERE path = ?",
                        [path]), None)
        if row is None:
            raise NotFound(f"no source {path!r} in this KB")
        ns = [r[0] for r in self.db.execute(
            "SELECT n FROM pairs WHERE source = ? AND hidden = 0 ORDER BY position", [path])]
        found = hydrate(self.db, ns)
        row["meta"] = loads(row["meta"], {})
        row["pairs"] = [found[n] for n in ns if n in found]
        row["open_questions"] = [
            {**r, "locator": loads(r["locator"], {})}
            for r in rows(self.db, "SELECT id, question, asked_by, locator FROM open_questions WHERE source = ?",
                          [path])]
        return row

    def samples(self, driver_type: str | None = None, topic: str | None = None) -> list[dict[str, Any]]:
        """Sample drivers, optionally only of one driver type (KMDF, UMDF, WDM...) or linked from a topic's pairs.

        Returns:
            ``[{"path", "title", "description", "url", "driver_types", "inf_classes", "ddi_count", "pair_count"}]``.
        """
        from kb.store import loads

        counts = {r[0]: r[1] for r in self.db.execute(
            "SELECT target, count(*) FROM links WHERE target_type = 'sample' GROUP BY target")}
        topical: set[str] | None = None
        if topic:
            topical = {r[0] for r in self.db.execute(
                "SELECT DISTINCT l.target FROM links l JOIN pair_topics t ON t.pair_n = l.pair_n "
                "WHERE l.target_type = 'sample' AND t.topic = ?", [topic])}
        out = []
        for r in rows(self.db, "SELECT path, title, description, url, driver_types, inf_classes, ddi_calls "
                               "FROM samples ORDER BY path"):
            types = loads(r["driver_types"], [])
            if driver_type and driver_type.upper() not in [t.upper() for t in types]:
                continue
            if topical is not None and r["path"] not in topical:
                continue
            out.append({"path": r["path"], "title": r["title"], "description": r["description"], "url": r["url"],
                        "driver_types": types, "inf_classes": loads(r["inf_classes"], []),
                        "ddi_count": len(loads(r["ddi_calls"], {})), "pair_count": counts.get(r["path"], 0)})
        return out

    def _linked_pairs(self, target_type: str, target: str, limit: int) -> list[dict[str, Any]]:
        ns = [r[0] for r in self.db.execute(
            "SELECT l.pair_n FROM links l JOIN pairs p ON p.n = l.pair_n WHERE l.target_type = ? AND l.target = ? "
            "AND p.hidden = 0 ORDER BY l.weight DESC, p.source, p.position LIMIT ?", [target_type, target, limit])]
        found = hydrate(self.db, ns)
        out = []
        for n in ns:
            if n in found:
                item = found[n]
                links = item["samples"] if target_type == "sample" else item["scripts"]
                item["link"] = next((x for x in links if x.get("path") == target or x.get("id") == target), None)
                out.append(item)
        return out

    def get_sample(self, path: str, limit: int = 100) -> dict[str, Any]:
        """One sample: catalog facts, its README pairs (build, install, run), DDIs with file:line, linked pairs.

        Raises:
            NotFound: no such sample.
        """
        from kb.store import loads

        row = next(rows(self.db, "SELECT * FROM samples WHERE path = ?", [path]), None)
        if row is None:
            raise NotFound(f"no sample {path!r}: see /samples for the catalog")
        extra = loads(row["extra"], {})
        base = extra.get("blob_base") if extra.get("commit") else None
        base = base or f"https://github.com/microsoft/Windows-driver-samples/blob/{self.settings['SAMPLES_REF']}/"
        calls = loads(row["ddi_calls"], {})
        documented = {r[0] for r in self.db.execute("SELECT name FROM api_index")}
        ddis = []
        for name in sorted(calls, key=str.lower):
            places = [{"file": f, "line": ln, "url": f"{base}{f}#L{ln}"} for f, ln in calls[name]]
            ddis.append({"name": name, "places": places, "documented": name.lower() in documented})
        readme_ns = [r[0] for r in self.db.execute(
            "SELECT p.n FROM pairs p JOIN sources s ON s.path = p.source WHERE s.kind = 'sample-readme' "
            "AND json_extract(p.extra, '$.sample_path') = ? ORDER BY p.position", [path])]
        found = hydrate(self.db, readme_ns)
        return {"path": row["path"], "title": row["title"], "description": row["description"], "url": row["url"],
                "driver_types": loads(row["driver_types"], []), "inf_classes": loads(row["inf_classes"], []),
                "projects": extra.get("projects", []), "ddis": ddis,
                "readme": [found[n] for n in readme_ns if n in found],
                "pairs": self._linked_pairs("sample", path, limit)}

    def get_script(self, script_id: str, limit: int = 100) -> dict[str, Any]:
        """One script: commands, sample output, header facts, source, and the pairs that link to it.

        Raises:
            NotFound: no such script.
        """
        from kb.store import loads

        sql = ("SELECT s.*, src.kind AS source_kind, src.title AS source_title, src.url AS source_url "
               "FROM scripts s LEFT JOIN sources src ON src.path = s.source WHERE s.id = ?")
        row = next(rows(self.db, sql, [script_id]), None)
        if row is None:
            raise NotFound(f"no script {script_id!r}: see /scripts for the list")
        row["locator"] = loads(row["locator"], {})
        row["topics"] = loads(row["topics"], [])
        row["extra"] = loads(row["extra"], {})
        row["curated"] = row["source_kind"] == "curated-script"
        row["pairs"] = self._linked_pairs("script", script_id, limit)
        return row

    def scripts(self, curated_only: bool = True) -> list[dict[str, Any]]:
        """Scripts: ``[{"id", "title", "tool", "purpose", "topics", "source"}]``, curated ones by default."""
        from kb.store import loads

        sql = ("SELECT s.id, s.title, s.tool, s.purpose, s.topics, s.source FROM scripts s "
               "JOIN sources src ON src.path = s.source"
               + (" WHERE src.kind = 'curated-script'" if curated_only else "")
               + " ORDER BY s.title")
        return [{**r, "topics": loads(r["topics"], [])} for r in rows(self.db, sql)]

    def set_hidden(self, pair_id: str, hidden: bool) -> None:
        """Hide a pair from every search and page (an admin action), or show it again.

        Raises:
            NotFound: no such pair.
        """
        cur = self.db.execute("UPDATE pairs SET hidden = ? WHERE id = ?", [1 if hidden else 0, pair_id])
        if cur.rowcount == 0:
            raise NotFound(f"no pair with id {pair_id!r}")

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
        if offset >= 2**63:  # far past the last page; SQLite integers are 64-bit (OverflowError, a 500)
            return []
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

    # -- web catalog and admin (webapp.catalog, webapp.admin) ---------------------------------------------------------
    def source_page(self, path: str) -> dict[str, Any]:
        """``get_source`` plus, on each pair, ``asked_by`` (who asked, for threads; None elsewhere).

        Raises:
            NotFound: no such source.
        """
        page = self.get_source(path)
        asked = dict(self.db.execute(
            "SELECT id, json_extract(extra, '$.asked_by') FROM pairs WHERE source = ?", [path]).fetchall())
        for pair in page["pairs"]:
            pair["asked_by"] = asked.get(pair["id"])
        return page

    def hidden_pairs(self, limit: int = 200) -> list[dict[str, Any]]:
        """Pairs an admin hid: ``[{"id", "question", "source", "heading"}]``, by source and position."""
        return list(rows(self.db, "SELECT id, question, source, heading FROM pairs WHERE hidden = 1 "
                                  "ORDER BY source, position LIMIT ?", [limit]))

    def feedback_listing(self, limit: int = 200) -> list[dict[str, Any]]:
        """Recent feedback, newest first (see kb.feedback.listing for the row shape)."""
        from kb import feedback

        return feedback.listing(self.db, limit)

    def set_feedback_status(self, feedback_id: int, status: str) -> None:
        """Dismiss (``dismissed``: no longer counts in ranking) or restore (``active``) one verdict.

        Raises:
            NotFound: no feedback with that id.
            BadQuery: unknown status.
        """
        from kb import feedback

        if self.db.execute("SELECT 1 FROM feedback WHERE id = ?", [feedback_id]).fetchone() is None:
            raise NotFound(f"no feedback with id {feedback_id}: reload the feedback list")
        try:
            feedback.set_status(self.db, feedback_id, status)
        except ValueError as exc:
            raise BadQuery(str(exc)) from exc

    def reingest(self, sources: list[Path]) -> dict[str, Any]:
        """Ingest ``sources`` into this KB and rebuild the vector index (what `kb ingest` does).

        Returns:
            The ingest summary (``Summary.as_dict()``) plus ``"index"``: the index metadata.
        """
        from kb import indexer
        from kb import pipeline

        summary = pipeline.run(self.db, sources, samples_ref=self.settings["SAMPLES_REF"])
        result = summary.as_dict()
        result["index"] = indexer.build(self.db, self.embedder, self.index_dir, self.settings["INDEX_BACKEND"])
        return result
