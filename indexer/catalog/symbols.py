"""The symbol table: every definition and reference the chunker found, kept beside the manifest.

It serves exact-name lookup in search ("where is `OrderService.pay`?") now and the PageRank repository map
later, so it stores names as written (case-sensitive) with their file and lines.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from indexer.chunking.models import Definition, Reference

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
        if repos is not None:  # [] matches nothing: access lists fail closed
            sql += f" AND repo IN ({','.join('?' * len(repos))})"
            args += repos
        return [Location(*row) for row in self.conn.execute(sql + " ORDER BY repo, path, start_line", args)]

    def known_names(self, candidates: Iterable[str], repos: list[str] | None = None) -> set[str]:
        """Which of `candidates` are names of some definition (within `repos`; None = all): used on every query,
        and scoped so that a restricted user cannot learn which names exist in a repository hidden from them."""
        names = list(dict.fromkeys(candidates))
        if not names or (repos is not None and not repos):
            return set()
        sql = f"SELECT DISTINCT name FROM definitions WHERE name IN ({','.join('?' * len(names))})"
        args: list[object] = list(names)
        if repos is not None:
            sql += f" AND repo IN ({','.join('?' * len(repos))})"
            args += repos
        return {r[0] for r in self.conn.execute(sql, args)}

    def references(self, name: str, repos: list[str] | None = None) -> list[tuple[str, str, str, int]]:
        sql = "SELECT repo, path, kind, line FROM refs WHERE name = ?"
        args: list[object] = [name]
        if repos is not None:  # [] matches nothing: access lists fail closed
            sql += f" AND repo IN ({','.join('?' * len(repos))})"
            args += repos
        return [tuple(r) for r in self.conn.execute(sql + " ORDER BY repo, path, line", args)]

    def definitions_named(self, names: Iterable[str], repos: list[str] | None = None) -> list[Location]:
        """Definitions whose short name is one of `names` (exact): resolving many call names in one query."""
        wanted = list(dict.fromkeys(names))
        if not wanted or (repos is not None and not repos):
            return []
        sql = ("SELECT repo, path, name, qualified_name, kind, start_line, end_line FROM definitions "
               f"WHERE name IN ({','.join('?' * len(wanted))})")
        args: list[object] = list(wanted)
        if repos is not None:
            sql += f" AND repo IN ({','.join('?' * len(repos))})"
            args += repos
        return [Location(*row) for row in self.conn.execute(sql + " ORDER BY repo, path, start_line", args)]

    def file_definitions(self, repo: str, path: str) -> list[Location]:
        """One file's definitions in line order: which definition encloses a reference (who calls whom)."""
        return [Location(*row) for row in self.conn.execute(
            "SELECT repo, path, name, qualified_name, kind, start_line, end_line FROM definitions "
            "WHERE repo=? AND path=? ORDER BY start_line, end_line DESC", (repo, path))]

    def references_in(self, repo: str, path: str, start_line: int, end_line: int,
                      kinds: Iterable[str] | None = None) -> list[tuple[str, str, int]]:
        """(name, kind, line) of the references inside lines start..end of one file: what a definition calls,
        imports or names (a class header's superclasses)."""
        sql = "SELECT name, kind, line FROM refs WHERE repo=? AND path=? AND line BETWEEN ? AND ?"
        args: list[object] = [repo, path, start_line, end_line]
        wanted = list(kinds) if kinds is not None else None
        if wanted is not None:
            sql += f" AND kind IN ({','.join('?' * len(wanted))})"
            args += wanted
        return [tuple(r) for r in self.conn.execute(sql + " ORDER BY line", args)]

    def counts(self, repos: list[str] | None = None) -> tuple[int, int]:
        """How many definitions and references (within `repos`; None = all)."""
        where, args = "", []
        if repos is not None:
            if not repos:
                return 0, 0
            where, args = f" WHERE repo IN ({','.join('?' * len(repos))})", list(repos)
        d = self.conn.execute("SELECT COUNT(*) FROM definitions" + where, args).fetchone()[0]
        r = self.conn.execute("SELECT COUNT(*) FROM refs" + where, args).fetchone()[0]
        return d, r

    def repo_definitions(self, repo: str) -> list[Location]:
        """Every definition of one repository in file order: the tour's repository map and entry points."""
        return [Location(*row) for row in self.conn.execute(
            "SELECT repo, path, name, qualified_name, kind, start_line, end_line FROM definitions WHERE repo=? "
            "ORDER BY path, start_line", (repo,))]

    def repo_references(self, repo: str) -> Iterator[tuple[str, str, str, int]]:
        """(path, name, kind, line) of every reference in one repository; streamed, a big repository has
        hundreds of thousands."""
        yield from self.conn.execute("SELECT path, name, kind, line FROM refs WHERE repo=?", (repo,))
