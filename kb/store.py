"""The store: SQLite through sqlite-utils, created by migrations, with two FTS5 indexes.

``pairs_fts`` indexes prose with the porter stemmer; ``pairs_idents`` indexes identifiers
unstemmed with ``_`` kept inside tokens, so ``IRQL_NOT_LESS_OR_EQUAL`` and ``WdfRequestSend``
stay whole words.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("kb")

# A word that looks like code: CamelCase, has an underscore or a digit, or is all caps (>= 3 letters).
IDENT_RE = re.compile(r"\b(?:[A-Za-z_]\w*[A-Z_0-9]\w*|[A-Z]{3,}\w*)\b")
_LOWER_CAMEL_RE = re.compile(r"[a-z][A-Z]")
_UPPER_CAMEL_RE = re.compile(r"^[A-Z][a-z0-9]+[A-Z]")


def extract_identifiers(text: str) -> list[str]:
    """Identifiers in ``text`` worth exact matching: ``WdfRequestSend``, ``IRP_MJ_READ``, ``0x9F`` is not one.

    Returns:
        Identifiers in order of first appearance, without duplicates.
    """
    seen: dict[str, None] = {}
    for match in IDENT_RE.finditer(text):
        word = match.group(0)
        if len(word) < 3 or word.isdigit() or word.lower().startswith("0x"):
            continue
        if "_" in word or _LOWER_CAMEL_RE.search(word) or _UPPER_CAMEL_RE.search(word) or word.isupper():
            seen.setdefault(word, None)
    return list(seen)


@migrations()
def m001_initial(db: Database) -> None:
    db.execute(
        """
        CREATE TABLE sources (
            path TEXT PRIMARY KEY,
            origin TEXT NOT NULL,
            kind TEXT NOT NULL,
            format TEXT NOT NULL,
            hash TEXT NOT NULL,
            title TEXT,
            url TEXT,
            description TEXT,
            api_names TEXT NOT NULL DEFAULT '[]',
            meta TEXT NOT NULL DEFAULT '{}',
            ingested_at TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX sources_origin ON sources(origin)")
    db.execute(
        """
        CREATE TABLE pairs (
            n INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            source TEXT NOT NULL REFERENCES sources(path),
            position INTEGER NOT NULL,
            ref TEXT NOT NULL,
            locator TEXT NOT NULL,
            kind TEXT NOT NULL,
            question TEXT NOT NULL,
            answer TEXT NOT NULL,
            heading TEXT NOT NULL DEFAULT '',
            topics TEXT NOT NULL DEFAULT '[]',
            answered_by TEXT,
            rank INTEGER NOT NULL DEFAULT 0,
            api_names TEXT NOT NULL DEFAULT '[]',
            idents TEXT NOT NULL DEFAULT '',
            extra TEXT NOT NULL DEFAULT '{}',
            content_hash TEXT NOT NULL,
            hidden INTEGER NOT NULL DEFAULT 0
        )"""
    )
    db.execute("CREATE INDEX pairs_source ON pairs(source)")
    db.execute("CREATE INDEX pairs_content_hash ON pairs(content_hash)")
    db.execute("CREATE TABLE pair_topics (pair_n INTEGER NOT NULL, topic TEXT NOT NULL, PRIMARY KEY (topic, pair_n))")
    db.execute("CREATE INDEX pair_topics_pair ON pair_topics(pair_n)")
    db["pairs"].enable_fts(["question", "answer", "heading"], tokenize="porter", create_triggers=True)
    db.execute(
        """CREATE VIRTUAL TABLE pairs_idents USING fts5(
            idents, content='pairs', content_rowid='n', tokenize="unicode61 tokenchars '_'")"""
    )
    db.executescript(
        """
        CREATE TRIGGER pairs_idents_ai AFTER INSERT ON pairs BEGIN
            INSERT INTO pairs_idents(rowid, idents) VALUES (new.n, new.idents);
        END;
        CREATE TRIGGER pairs_idents_ad AFTER DELETE ON pairs BEGIN
            INSERT INTO pairs_idents(pairs_idents, rowid, idents) VALUES ('delete', old.n, old.idents);
        END;
        CREATE TRIGGER pairs_idents_au AFTER UPDATE ON pairs BEGIN
            INSERT INTO pairs_idents(pairs_idents, rowid, idents) VALUES ('delete', old.n, old.idents);
            INSERT INTO pairs_idents(rowid, idents) VALUES (new.n, new.idents);
        END;
        """
    )
    db.execute(
        """
        CREATE TABLE open_questions (
            id TEXT PRIMARY KEY,
            source TEXT,
            origin TEXT NOT NULL DEFAULT 'source',
            locator TEXT NOT NULL DEFAULT '{}',
            question TEXT NOT NULL,
            asked_by TEXT,
            topics TEXT NOT NULL DEFAULT '[]',
            created_at TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX open_questions_source ON open_questions(source)")
    db.execute(
        """
        CREATE TABLE embeddings (
            model TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            vector BLOB NOT NULL,
            PRIMARY KEY (model, content_hash)
        )"""
    )
    db.execute(
        """
        CREATE TABLE samples (
            path TEXT PRIMARY KEY,
            source TEXT NOT NULL,
            title TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            url TEXT NOT NULL DEFAULT '',
            driver_types TEXT NOT NULL DEFAULT '[]',
            inf_classes TEXT NOT NULL DEFAULT '[]',
            ddi_calls TEXT NOT NULL DEFAULT '{}',
            extra TEXT NOT NULL DEFAULT '{}'
        )"""
    )
    db.execute("CREATE TABLE api_index (name TEXT NOT NULL, source TEXT NOT NULL, PRIMARY KEY (name, source))")
    db.execute("CREATE TABLE sample_ddis (ddi TEXT NOT NULL, sample TEXT NOT NULL, PRIMARY KEY (ddi, sample))")
    db.execute(
        """
        CREATE TABLE scripts (
            id TEXT PRIMARY KEY,
            source TEXT NOT NULL,
            locator TEXT NOT NULL,
            tool TEXT NOT NULL,
            title TEXT NOT NULL DEFAULT '',
            purpose TEXT NOT NULL DEFAULT '',
            commands TEXT NOT NULL,
            output TEXT NOT NULL DEFAULT '',
            topics TEXT NOT NULL DEFAULT '[]',
            extra TEXT NOT NULL DEFAULT '{}'
        )"""
    )
    db.execute("CREATE INDEX scripts_source ON scripts(source)")
    db.execute(
        """
        CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        )"""
    )


def open_db(path: str | Path | None = None, *, memory: bool = False) -> Database:
    """Open (and migrate) the store.

    Args:
        path: the SQLite file; its folder is created when missing.
        memory: use an in-memory database instead (tests).

    Returns:
        A migrated ``sqlite_utils.Database``.
    """
    if memory or path is None:
        db = Database(memory=True)
    else:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
        db = Database(conn)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    migrations.apply(db)
    return db


def loads(value: str | None, default: Any) -> Any:
    """Decode a JSON column, falling back to ``default`` for NULL."""
    return default if value in (None, "") else json.loads(value)


def dumps(value: Any) -> str:
    """Encode a JSON column compactly and deterministically."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def rows(db: Database, sql: str, params: Iterable[Any] = ()) -> Iterator[dict[str, Any]]:
    """Run a query and yield each row as a dict."""
    cursor = db.execute(sql, list(params))
    names = [d[0] for d in cursor.description]
    for row in cursor:
        yield dict(zip(names, row, strict=True))


def get_meta(db: Database, key: str, default: str | None = None) -> str | None:
    """Read one value from the ``meta`` key/value table."""
    row = db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
    return row[0] if row else default


def set_meta(db: Database, key: str, value: str) -> None:
    """Write one value into the ``meta`` key/value table."""
    db.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
               [key, value])


@migrations()
def m002_feedback(db: Database) -> None:
    db.execute(
        """
        CREATE TABLE feedback (
            id INTEGER PRIMARY KEY,
            query TEXT NOT NULL,
            query_terms TEXT NOT NULL,
            pair_id TEXT NOT NULL,
            verdict TEXT NOT NULL CHECK (verdict IN ('helpful', 'not-helpful')),
            reason TEXT NOT NULL DEFAULT '',
            origin TEXT NOT NULL DEFAULT 'web',
            user TEXT,
            created_at TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'active'
        )"""
    )
    db.execute("CREATE INDEX feedback_pair ON feedback(pair_id)")


@migrations()
def m003_links(db: Database) -> None:
    db.execute(
        """
        CREATE TABLE links (
            pair_n INTEGER NOT NULL,
            target_type TEXT NOT NULL CHECK (target_type IN ('sample', 'script')),
            target TEXT NOT NULL,
            reason TEXT NOT NULL,
            evidence TEXT NOT NULL DEFAULT '{}',
            weight REAL NOT NULL DEFAULT 0,
            PRIMARY KEY (pair_n, target_type, target)
        )"""
    )
    db.execute("CREATE INDEX links_target ON links(target_type, target)")


@migrations()
def m004_pair_ref_index(db: Database) -> None:
    # Learning paths and the glossary resolve stable references (path#anchor) by this column.
    db.execute("CREATE INDEX IF NOT EXISTS pairs_ref ON pairs(ref)")
