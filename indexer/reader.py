"""The read side of the index: the published generation's store, manifest and symbol table, opened together.

Everything in app/ reads the index through an `IndexReader`: its store for vector search and its `catalog`
(manifest and symbol table) for names, files and lines. No SQL runs outside indexer/.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from pathlib import Path

from indexer.catalog.manifest import Manifest, ManifestError, connect
from indexer.catalog.symbols import SymbolTable
from indexer.pipeline.generations import Generation, IndexDir, copy_sparse
from indexer.settings import IndexerSettings
from indexer.store import Store, StoreInUse, open_store


class NoIndex(Exception):
    """Nothing has been indexed yet."""


class IndexReader:
    """A read-only view of the published generation: store, manifest and symbol table together.

    Long-lived readers (the UI) call `refresh()` to move to a newer generation when one is published.
    """

    def __init__(self, settings: IndexerSettings):
        self.settings = settings
        self.dir = IndexDir(settings.index_dir)
        self.generation: Generation | None = None
        self.store: Store | None = None
        self.conn: sqlite3.Connection | None = None
        self._private_copy: Path | None = None
        self._open()

    def _open(self) -> None:
        gen = self.dir.current()
        if gen is None:
            raise NoIndex(f"no index yet in {self.settings.index_dir}; run `dayone index` first")
        try:
            conn = connect(gen.manifest_path, readonly=True)
        except ManifestError as exc:
            raise ManifestError(f"{exc}; run `dayone index --full`") from None
        store, private = _open_store_for_reading(self.settings, gen)
        self.generation, self.conn, self.store, self._private_copy = gen, conn, store, private

    @property
    def manifest(self) -> Manifest:
        assert self.conn is not None
        return Manifest(self.conn)

    @property
    def symbols(self) -> SymbolTable:
        assert self.conn is not None
        return SymbolTable(self.conn)

    def refresh(self) -> bool:
        """Switch to the newest published generation; True when it changed."""
        gen = self.dir.current()
        if gen is None or gen == self.generation:
            return False
        old = (self.store, self.conn, self._private_copy)
        self._open()
        _close_all(*old)
        return True

    def close(self) -> None:
        _close_all(self.store, self.conn, self._private_copy)
        self.store = self.conn = self._private_copy = None

    def __enter__(self) -> IndexReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _close_all(store: Store | None, conn: sqlite3.Connection | None, private: Path | None) -> None:
    if store is not None:
        store.close()
    if conn is not None:
        conn.close()
    if private is not None:
        shutil.rmtree(private, ignore_errors=True)


def _open_store_for_reading(settings: IndexerSettings, gen: Generation) -> tuple[Store, Path | None]:
    if settings.store.qdrant_url:
        return open_store(settings.store, gen.shard_path), None
    try:
        return open_store(settings.store, gen.shard_path), None
    except StoreInUse:
        pass
    # Another reader (e.g. `dayone serve`) holds the shard; search a private copy instead of failing.
    private = Path(tempfile.mkdtemp(prefix="dayone-read-"))
    shutil.copytree(gen.shard_path, private / "shard", dirs_exist_ok=True, copy_function=copy_sparse)
    return open_store(settings.store, private / "shard"), private
