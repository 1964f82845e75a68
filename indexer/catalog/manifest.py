"""The manifest: what each index generation holds, per repository and file, in one SQLite file.

It maps repo -> path -> blob -> chunk ids, so a rerun embeds only files whose blob changed and deletes exactly
the chunks of changed, renamed and deleted files. It also records which model and chunker built the index (a
change of either forces a full rebuild) and the commit each repository was indexed at. The symbol table
(indexer/catalog/symbols.py) lives in the same file so both switch together with their generation.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS repos (
    name TEXT PRIMARY KEY, source TEXT NOT NULL, config TEXT NOT NULL, branch TEXT, commit_sha TEXT,
    indexed_at REAL NOT NULL, files INTEGER NOT NULL, chunks INTEGER NOT NULL, skipped TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS files (
    repo TEXT NOT NULL, path TEXT NOT NULL, blob TEXT NOT NULL, language TEXT NOT NULL,
    status TEXT NOT NULL, PRIMARY KEY (repo, path)
);
CREATE TABLE IF NOT EXISTS chunks (
    id TEXT PRIMARY KEY, repo TEXT NOT NULL, path TEXT NOT NULL, symbol TEXT NOT NULL, name TEXT NOT NULL,
    kind TEXT NOT NULL, language TEXT NOT NULL, start_line INTEGER NOT NULL, end_line INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_file ON chunks (repo, path);
CREATE INDEX IF NOT EXISTS chunks_by_name ON chunks (name);
CREATE INDEX IF NOT EXISTS chunks_by_symbol ON chunks (symbol);  -- exact-name lookup: 32 ms -> 0.1 ms at 100k
"""


class ManifestError(Exception):
    """The manifest is unreadable or from an incompatible version; the index must be rebuilt."""


@dataclass(frozen=True)
class FileEntry:
    path: str
    blob: str
    language: str
    status: str  # "indexed", or the reason it gave no chunks ("binary", "empty", ...)


@dataclass(frozen=True)
class RepoEntry:
    name: str
    source: str
    config: dict  # the RepoConfig it was indexed with, so `--all` and full rebuilds can redo it
    branch: str | None
    commit: str | None
    indexed_at: float
    files: int
    chunks: int
    skipped: dict[str, int]


@dataclass(frozen=True)
class ChunkRow:
    id: str
    repo: str
    path: str
    symbol: str
    name: str
    kind: str
    language: str
    start_line: int
    end_line: int


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """Open (or create) a generation's manifest; a corrupt file raises ManifestError, never a traceback.

    Published generations are opened read-only: nothing may change a generation once CURRENT names it.
    """
    try:
        if readonly:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        else:
            conn = sqlite3.connect(str(path), check_same_thread=False)
            conn.execute("PRAGMA journal_mode=DELETE")
            conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(_SCHEMA)
            from indexer.catalog.symbols import SCHEMA as SYMBOLS_SCHEMA

            conn.executescript(SYMBOLS_SCHEMA)
            if conn.execute("SELECT value FROM info WHERE key='schema_version'").fetchone() is None:
                conn.execute("INSERT INTO info VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                conn.commit()
        version = conn.execute("SELECT value FROM info WHERE key='schema_version'").fetchone()
        if version is None or int(version[0]) != SCHEMA_VERSION:
            found = version[0] if version else "none"
            conn.close()
            raise ManifestError(f"{path}: manifest schema {found}, this dayone needs {SCHEMA_VERSION}")
        if conn.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            conn.close()
            raise ManifestError(f"{path}: manifest failed its integrity check")
    except sqlite3.DatabaseError as exc:
        raise ManifestError(f"{path}: manifest is corrupt ({exc})") from None
    return conn


class Manifest:
    """Read and write one generation's manifest. Writes are batched in the caller's transaction."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    # -- build identity -------------------------------------------------------------------------------
    def get_info(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM info WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_info(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO info VALUES (?, ?)", (key, value))

    # -- repositories ---------------------------------------------------------------------------------
    def repos(self) -> list[RepoEntry]:
        rows = self.conn.execute(
            "SELECT name, source, config, branch, commit_sha, indexed_at, files, chunks, skipped FROM repos "
            "ORDER BY name"
        )
        return [RepoEntry(r[0], r[1], json.loads(r[2]), r[3], r[4], r[5], r[6], r[7], json.loads(r[8]))
                for r in rows]

    def repo(self, name: str) -> RepoEntry | None:
        return next((r for r in self.repos() if r.name == name), None)

    def set_repo(self, name: str, *, source: str, config: dict, branch: str | None, commit: str | None,
                 skipped: dict[str, int]) -> None:
        files = self.conn.execute("SELECT COUNT(*) FROM files WHERE repo=?", (name,)).fetchone()[0]
        chunks = self.conn.execute("SELECT COUNT(*) FROM chunks WHERE repo=?", (name,)).fetchone()[0]
        self.conn.execute(
            "INSERT OR REPLACE INTO repos VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (name, source, json.dumps(config, sort_keys=True), branch, commit, time.time(), files, chunks,
             json.dumps(skipped, sort_keys=True)),
        )

    def drop_repo(self, name: str) -> list[str]:
        ids = [r[0] for r in self.conn.execute("SELECT id FROM chunks WHERE repo=?", (name,))]
        for table in ("files", "chunks", "definitions", "refs"):
            self.conn.execute(f"DELETE FROM {table} WHERE repo=?", (name,))
        self.conn.execute("DELETE FROM repos WHERE name=?", (name,))
        return ids

    # -- files and chunks -----------------------------------------------------------------------------
    def files(self, repo: str) -> dict[str, FileEntry]:
        rows = self.conn.execute("SELECT path, blob, language, status FROM files WHERE repo=?", (repo,))
        return {r[0]: FileEntry(r[0], r[1], r[2], r[3]) for r in rows}

    def chunk_ids(self, repo: str, path: str) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT id FROM chunks WHERE repo=? AND path=?", (repo, path))]

    def all_chunk_ids(self, repo: str | None = None) -> set[str]:
        if repo is None:
            return {r[0] for r in self.conn.execute("SELECT id FROM chunks")}
        return {r[0] for r in self.conn.execute("SELECT id FROM chunks WHERE repo=?", (repo,))}

    def remove_file(self, repo: str, path: str) -> list[str]:
        ids = self.chunk_ids(repo, path)
        for table in ("files", "chunks", "definitions", "refs"):
            self.conn.execute(f"DELETE FROM {table} WHERE repo=? AND path=?", (repo, path))
        return ids

    def add_file(self, repo: str, entry: FileEntry, chunks: Iterable[ChunkRow]) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?)",
            (repo, entry.path, entry.blob, entry.language, entry.status),
        )
        self.conn.executemany(
            "INSERT OR REPLACE INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(c.id, c.repo, c.path, c.symbol, c.name, c.kind, c.language, c.start_line, c.end_line)
             for c in chunks],
        )

    def chunks_named(self, names: Iterable[str], repos: list[str] | None = None) -> list[ChunkRow]:
        """Chunks whose short name or qualified name is one of `names` (exact, case-sensitive)."""
        names = list(dict.fromkeys(names))
        if not names:
            return []
        marks = ",".join("?" * len(names))
        sql = (f"SELECT id, repo, path, symbol, name, kind, language, start_line, end_line FROM chunks "
               f"WHERE (name IN ({marks}) OR symbol IN ({marks}))")
        args: list[object] = [*names, *names]
        if repos is not None:  # [] matches nothing: access lists fail closed
            sql += f" AND repo IN ({','.join('?' * len(repos))})"
            args += repos
        return [ChunkRow(*r) for r in self.conn.execute(sql, args)]

    def chunks_with_symbol_suffix(self, dotted: str, repos: list[str] | None = None) -> list[ChunkRow]:
        """Chunks whose qualified name is `dotted` or ends with `.dotted` (e.g. `OrderService.pay`)."""
        escaped = dotted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        sql = ("SELECT id, repo, path, symbol, name, kind, language, start_line, end_line FROM chunks "
               "WHERE name = ? AND (symbol = ? OR symbol LIKE ? ESCAPE '\\')")
        args: list[object] = [dotted.rsplit(".", 1)[-1], dotted, "%." + escaped]
        if repos is not None:  # [] matches nothing: access lists fail closed
            sql += f" AND repo IN ({','.join('?' * len(repos))})"
            args += repos
        return [ChunkRow(*r) for r in self.conn.execute(sql, args)]

    def symbol_lines(self, repo: str, path: str, symbol: str, kind: str) -> tuple[int, int] | None:
        """The full line span of a symbol that was split into parts."""
        row = self.conn.execute(
            "SELECT MIN(start_line), MAX(end_line) FROM chunks WHERE repo=? AND path=? AND symbol=? AND kind=?",
            (repo, path, symbol, kind),
        ).fetchone()
        return (row[0], row[1]) if row and row[0] is not None else None

    def symbol_parts(self, repo: str, path: str, symbol: str, kind: str) -> list[tuple[str, int, int]]:
        """(chunk id, start_line, end_line) of every part of a split symbol, in file order."""
        return [tuple(r) for r in self.conn.execute(
            "SELECT id, start_line, end_line FROM chunks WHERE repo=? AND path=? AND symbol=? AND kind=? "
            "ORDER BY start_line, end_line", (repo, path, symbol, kind))]

    def languages(self, repos: list[str] | None = None) -> list[str]:
        """Languages that have chunks, most chunks first (the UI's language filter offers these)."""
        sql, args = "SELECT language, COUNT(*) AS n FROM chunks", []
        if repos is not None:
            sql += f" WHERE repo IN ({','.join('?' * len(repos))})"
            args = list(repos)
        rows = self.conn.execute(sql + " GROUP BY language ORDER BY n DESC, language", args).fetchall()
        return [language for language, _n in rows]

    def count_chunks(self, repo: str | None = None) -> int:
        if repo is None:
            return self.conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        return self.conn.execute("SELECT COUNT(*) FROM chunks WHERE repo=?", (repo,)).fetchone()[0]

    def chunk_names(self) -> Iterator[tuple[str, str, str, str, str, str, str]]:
        """(id, repo, path, symbol, name, kind, language) of every chunk: search's in-memory name catalog."""
        yield from self.conn.execute("SELECT id, repo, path, symbol, name, kind, language FROM chunks")

    def indexed_files(self) -> Iterator[tuple[str, str, str]]:
        """(repo, path, language) of every file that gave chunks: search's path signal."""
        yield from self.conn.execute("SELECT repo, path, language FROM files WHERE status='indexed'")

    def chunk_ids_named(self, repo: str, path: str, name: str) -> list[str]:
        """Chunks of one file whose short name is `name`, in file order (a traceback frame's function)."""
        return [r[0] for r in self.conn.execute(
            "SELECT id FROM chunks WHERE repo=? AND path=? AND name=? ORDER BY start_line", (repo, path, name))]

    def code_spans(self, repo: str, path: str) -> list[tuple[str, str, int, int]]:
        """(id, language, start_line, end_line) of one file's chunks below module and class level: the
        innermost chunk around a line is where that line's code is."""
        return [tuple(r) for r in self.conn.execute(
            "SELECT id, language, start_line, end_line FROM chunks WHERE repo=? AND path=? "
            "AND kind NOT IN ('module', 'class')", (repo, path))]
