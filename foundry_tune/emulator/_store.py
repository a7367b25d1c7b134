"""Durable state: one SQLite document table plus a folder of blobs, both under the data dir.

Every object (file, upload, part, job, event, checkpoint, deployment) is a JSON document keyed by
``(kind, id)``; ``parent`` links events, checkpoints and parts to their owner and ``seq`` keeps the
insertion order that listing and pagination rely on. WAL journaling makes each write durable
against ``kill -9`` of the process.

The data folder is private: its folders are created 0700 and its files 0600 (it holds uploaded
training data, job requests with their grader keys, and TLS keys). The server process also runs
with umask 077 (see ``_server.run``), so every file the emulator writes is private.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

Doc = dict[str, Any]

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def private_dir(path: Path) -> Path:
    """Create ``path`` (and its parents) if needed; a folder created here is 0700."""
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
        if os.name == "posix":
            path.chmod(PRIVATE_DIR)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty with mode 0600 if it does not exist (an existing file keeps its mode)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE)
    os.close(fd)
    return path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    parent TEXT,
    doc TEXT NOT NULL,
    UNIQUE (kind, id)
);
CREATE INDEX IF NOT EXISTS docs_parent ON docs (kind, parent, seq);
"""


class Store:
    """Thread-safe document store; every method is one short transaction."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.blob_dir = data_dir / "blobs"
        private_dir(data_dir)
        private_dir(self.blob_dir)
        self._lock = threading.RLock()
        # SQLite gives its -wal and -shm files the database file's mode: create that one private.
        self._db = sqlite3.connect(
            private_file(data_dir / "emulator.sqlite3"), check_same_thread=False, isolation_level=None
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def remove_partial_blobs(self) -> int:
        """Delete blobs a crash left half-written (in-flight parts, assemblies, temp results)."""
        removed = 0
        for path in self.blob_dir.iterdir():
            if path.name.startswith("incoming-") or path.suffix in {".assembled", ".tmp"}:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def blob_path(self, name: str) -> Path:
        """Where the blob ``name`` lives."""
        return self.blob_dir / name

    def put(self, kind: str, doc: Doc, parent: str | None = None) -> Doc:
        """Insert or replace ``doc`` (keyed by ``doc["id"]``), keeping its original position."""
        text = json.dumps(doc, separators=(",", ":"))
        with self._lock:
            self._db.execute(
                "INSERT INTO docs (kind, id, parent, doc) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (kind, id) DO UPDATE SET doc = excluded.doc",
                (kind, doc["id"], parent, text),
            )
        return doc

    def put_many(self, kind: str, docs: list[Doc], parent: str | None = None) -> None:
        """Insert several documents in one transaction."""
        rows = [(kind, d["id"], parent, json.dumps(d, separators=(",", ":"))) for d in docs]
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "INSERT INTO docs (kind, id, parent, doc) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (kind, id) DO UPDATE SET doc = excluded.doc",
                    rows,
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def get(self, kind: str, ident: str) -> Doc | None:
        """The document, or ``None``."""
        with self._lock:
            row = self._db.execute("SELECT doc FROM docs WHERE kind = ? AND id = ?", (kind, ident)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def delete(self, kind: str, ident: str) -> bool:
        """Remove a document; whether it existed."""
        with self._lock:
            cur = self._db.execute("DELETE FROM docs WHERE kind = ? AND id = ?", (kind, ident))
        return cur.rowcount > 0

    def delete_children(self, kind: str, parent: str) -> None:
        """Remove every ``kind`` document under ``parent``."""
        with self._lock:
            self._db.execute("DELETE FROM docs WHERE kind = ? AND parent = ?", (kind, parent))

    def all(self, kind: str, parent: str | None = None, *, newest_first: bool = False) -> list[Doc]:
        """Every document of ``kind`` (under ``parent`` when given), in insertion order."""
        order = "DESC" if newest_first else "ASC"
        with self._lock:
            if parent is None:
                rows = self._db.execute(f"SELECT doc FROM docs WHERE kind = ? ORDER BY seq {order}", (kind,))  # noqa: S608
            else:
                rows = self._db.execute(
                    f"SELECT doc FROM docs WHERE kind = ? AND parent = ? ORDER BY seq {order}",  # noqa: S608
                    (kind, parent),
                )
            return [dict(json.loads(r[0])) for r in rows.fetchall()]

    def page(
        self, kind: str, parent: str, after: str | None, limit: int, *, newest_first: bool = True
    ) -> tuple[list[Doc], bool] | None:
        """Up to ``limit`` children of ``parent`` that follow the one with id ``after``, and whether
        more remain; ``None`` when ``after`` is not one of them."""
        order, compare = ("DESC", "<") if newest_first else ("ASC", ">")
        with self._lock:
            start = None
            if after:
                row = self._db.execute(
                    "SELECT seq FROM docs WHERE kind = ? AND parent = ? AND id = ?", (kind, parent, after)
                ).fetchone()
                if row is None:
                    return None
                start = row[0]
            query = "SELECT doc FROM docs WHERE kind = ? AND parent = ?"
            params: list[object] = [kind, parent]
            if start is not None:
                query += f" AND seq {compare} ?"
                params.append(start)
            query += f" ORDER BY seq {order} LIMIT ?"
            params.append(limit + 1)
            rows = self._db.execute(query, params).fetchall()
        docs = [dict(json.loads(r[0])) for r in rows]
        return docs[:limit], len(docs) > limit

    def count(self, kind: str) -> int:
        """How many documents of ``kind`` exist."""
        with self._lock:
            row = self._db.execute("SELECT COUNT(*) FROM docs WHERE kind = ?", (kind,)).fetchone()
        return int(row[0])

    def iter_kind(self, kind: str) -> Iterator[Doc]:
        """Iterate over a snapshot of every document of ``kind``."""
        yield from self.all(kind)
