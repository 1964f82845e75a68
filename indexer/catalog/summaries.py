"""The summaries cache: model-written one-line summaries of directories and modules, keyed by a hash of what
was summarised, so a nightly run re-summarises only what changed and a tour reads them without the model.

It is a separate SQLite file (not part of a generation): summaries outlive generations, since most files do not
change between runs. app/tour/summaries.py decides what to summarise; this class only stores.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path


class SummaryCache:
    """key (hash of prompt+model+version) -> summary; plus which key each (repo, kind, path) uses now."""

    def __init__(self, path: Path, *, readonly: bool = False):
        self.path = path
        if readonly:
            self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(str(path), check_same_thread=False)
            self.conn.executescript(
                "CREATE TABLE IF NOT EXISTS summaries (key TEXT PRIMARY KEY, text TEXT NOT NULL, model TEXT NOT NULL,"
                " created REAL NOT NULL);"
                "CREATE TABLE IF NOT EXISTS current (repo TEXT NOT NULL, kind TEXT NOT NULL, path TEXT NOT NULL,"
                " key TEXT NOT NULL, PRIMARY KEY (repo, kind, path));")

    def get(self, key: str) -> str | None:
        row = self.conn.execute("SELECT text FROM summaries WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def put(self, key: str, text: str, model: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO summaries VALUES (?, ?, ?, ?)", (key, text, model, time.time()))

    def set_current(self, repo: str, items: dict[tuple[str, str], str]) -> None:
        self.conn.execute("DELETE FROM current WHERE repo=?", (repo,))
        self.conn.executemany("INSERT INTO current VALUES (?, ?, ?, ?)",
                              [(repo, kind, path, key) for (kind, path), key in items.items()])

    def current(self, repo: str) -> dict[tuple[str, str], str]:
        rows = self.conn.execute("SELECT c.kind, c.path, s.text FROM current c JOIN summaries s ON s.key = c.key "
                                 "WHERE c.repo=?", (repo,))
        return {(k, p): t for k, p, t in rows}

    def commit(self) -> None:
        self.conn.commit()

    def close(self) -> None:
        self.conn.close()

    @classmethod
    def read_current(cls, path: Path, repo: str) -> dict[tuple[str, str], str]:
        """(kind, path) -> summary of the repository's last refresh; empty when the cache is missing or
        unreadable (a tour without summaries is still a tour)."""
        try:
            cache = cls(path, readonly=True)
        except sqlite3.Error:
            return {}
        try:
            return cache.current(repo)
        except sqlite3.Error:
            return {}
        finally:
            cache.close()
