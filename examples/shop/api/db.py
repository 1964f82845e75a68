"""Database access for the API.

Every service takes a `Database` so tests can hand in an in-memory one. This wrapper speaks SQLite,
which is what local development and the tests use; queries are plain SQL with named parameters and
no ORM, so they also run unchanged on the PostgreSQL schema in db/schema.sql.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class Database:
    """A thread-safe wrapper around one DB-API connection."""

    def __init__(self, url: str) -> None:
        # "sqlite:///shop.db" -> "shop.db"; ":memory:" for tests.
        path = url.removeprefix("sqlite:///")
        self._conn = sqlite3.connect(path, check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()

    def query(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        """Run a SELECT and return the rows as dictionaries."""
        with self._lock:
            cursor = self._conn.execute(sql, params)
            return [dict(row) for row in cursor.fetchall()]

    def query_one(self, sql: str, **params: Any) -> dict[str, Any] | None:
        rows = self.query(sql, **params)
        return rows[0] if rows else None

    def execute(self, sql: str, **params: Any) -> int:
        """Run an INSERT/UPDATE/DELETE outside a transaction block; returns the last row id."""
        with self._lock:
            cursor = self._conn.execute(sql, params)
            self._conn.commit()
            return cursor.lastrowid or 0

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Group several statements so they commit together or not at all.

        Services use this whenever an operation touches more than one table, e.g. reserving stock
        for every line of an order.
        """
        with self._lock:
            try:
                yield self._conn
                self._conn.commit()
            except Exception:
                self._conn.rollback()
                raise

    def close(self) -> None:
        self._conn.close()
