"""The symbol table: every definition and reference the chunker found, kept beside the manifest.

It serves exact-name lookup in search ("where is `OrderService.pay`?") now and the PageRank repository map
later, so it stores names as written (case-sensitive) with their file and lines.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from indexer.models import Definition, Reference

SCHEMA = """
CREATE TABLE IF NOT EXISTS definitions (
    repo TEXT NOT NULL, path TEXT NOT NULL, name TEXT NOT NULL, qualified_name TEXT NOT NULL,
    kind TEXT NOT NULL, start_line INTEGER NOT NULL, end_line INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS definitions_by_name ON definitions (name);
CREATE INDEX IF NOT EXISTS definitions_by_qname ON definitions (qualified_name);
CREATE INDEX IF NOT EXISTS definitions_by_file ON definitions (repo, path);
CREATE TABLE IF NOT EXISTS refs (
    repo TEXT NOT NULL, path TEXT NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL, line INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS refs_by_name ON refs (name);
CREATE INDEX IF NOT EXISTS refs_by_file ON refs (repo, path);
"""


@dataclass(frozen=True)
class Location:
    repo: str
    path: str
    name: str
    qualified_name: str
    kind: str
    start_line: int
    end_line: int


class SymbolTable:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def add(self, repo: str, definitions: Iterable[Definition], references: Iterable[Reference]) -> None:
        self.conn.executemany(
            "INSERT INTO definitions VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(repo, d.path, d.name, d.qualified_name, d.kind, d.start_line, d.end_line) for d in definitions],
        )
        self.conn.executemany(
            "INSERT INTO refs VALUES (?, ?, ?, ?, ?)",
            [(repo, r.path, r.name, r.kind, r.line) for r in references],
        )

    def definitions(self, name: str, repos: list[str] | None = None) -> list[Location]:
        """Definitions whose short or qualified name is `name`, or whose qualified name ends with `.name`."""
        sql = ("SELECT repo, path, name, qualified_name, kind, start_line, end_line FROM definitions "
               "WHERE (name = ? OR qualified_name = ? OR qualified_name LIKE ? ESCAPE '\\')")
        pattern = "%." + name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        args: list[object] = [name, name, pattern]
        if repos:
            sql += f" AND repo IN ({','.join('?' * len(repos))})"
            args += repos
        return [Location(*row) for row in self.conn.execute(sql + " ORDER BY repo, path, start_line", args)]

    def known_names(self, candidates: Iterable[str]) -> set[str]:
        """Which of `candidates` are names of some definition: cheap, used on every query."""
        names = list(dict.fromkeys(candidates))
        if not names:
            return set()
        rows = self.conn.execute(
            f"SELECT DISTINCT name FROM definitions WHERE name IN ({','.join('?' * len(names))})", names
        )
        return {r[0] for r in rows}

    def references(self, name: str, repos: list[str] | None = None) -> list[tuple[str, str, str, int]]:
        sql = "SELECT repo, path, kind, line FROM refs WHERE name = ?"
        args: list[object] = [name]
        if repos:
            sql += f" AND repo IN ({','.join('?' * len(repos))})"
            args += repos
        return [tuple(r) for r in self.conn.execute(sql + " ORDER BY repo, path, line", args)]

    def counts(self) -> tuple[int, int]:
        d = self.conn.execute("SELECT COUNT(*) FROM definitions").fetchone()[0]
        r = self.conn.execute("SELECT COUNT(*) FROM refs").fetchone()[0]
        return d, r
