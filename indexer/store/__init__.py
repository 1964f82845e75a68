"""The vector store behind dayone: one interface (base.py), two engines (edge.py, qdrant.py).

Everything above this package (pipeline, search, UI) talks to `Store`, so the same code runs on the embedded
engine (qdrant-edge, the default: no server to install) and on a Qdrant server (teams that already run one).
Both speak Qdrant's query model, which is why hybrid retrieval (dense + sparse prefetch fused by RRF) and the
payload filters run *inside* the engine in both: access control relies on filters never being a Python
post-filter that a bug could skip.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from indexer.store.base import DENSE, RRF_K, SPARSE, Hit, Point, SearchFilter, Store
from indexer.store.edge import EdgeStore
from indexer.store.errors import StoreError, StoreFull, StoreInUse, StoreUnreachable
from indexer.store.payload import INDEXED_KEYS, ChunkPayload
from indexer.store.qdrant import QdrantClientStore

if TYPE_CHECKING:
    from indexer.settings import StoreSettings

__all__ = [
    "DENSE", "INDEXED_KEYS", "RRF_K", "SPARSE", "ChunkPayload", "EdgeStore", "Hit", "Point", "QdrantClientStore",
    "SearchFilter", "Store", "StoreError", "StoreFull", "StoreInUse", "StoreUnreachable", "open_store",
]


def open_store(settings_store: StoreSettings, edge_path: Path) -> Store:
    """The configured engine: a Qdrant server when a URL is set, else the embedded shard at `edge_path`."""
    if settings_store.qdrant_url:
        return QdrantClientStore(
            url=settings_store.qdrant_url,
            api_key=settings_store.qdrant_api_key or None,
            collection=settings_store.collection,
        )
    return EdgeStore(edge_path)
