"""The store interface: what the pipeline and search need from a vector engine, and the rules both engines share.

`Store` holds every rule that does not depend on the engine: guards (a closed store, an index not created
yet, a filter that matches nothing), batching, id canonicalisation, paging. Each engine (edge.py, qdrant.py)
only translates a handful of primitive calls into its own API, so the two cannot drift apart.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from indexer.store.errors import StoreError
from indexer.store.payload import ChunkPayload

DENSE = "dense"
SPARSE = "sparse"

# RRF constant. Qdrant's own default is 2, which lets a single first place dominate; 60 (the value from the
# original RRF paper) rewards agreement between the dense and sparse rankings. Both engines compute
# 1 / (k + rank0), so the same k gives the same fused scores; app/search fuses its own lists with it too.
RRF_K = 60

# Search settings, chosen from recall@10 against exact search measured on 100k x 384-dim normalized vectors
# (sampled with the covariance of real all-MiniLM-L6-v2 code embeddings: a hard case) on 2 CPU cores:
# - Segments up to INDEXING_THRESHOLD_KB of vectors (~130k 384-dim points) get no HNSW graph and are
#   searched exactly: recall 1.0 with or without filters, dense p50 ~8 ms at 100k, no graph build time.
#   HNSW gave recall 0.70 with the defaults (m=16, ef=100), and 0.49-0.66 under a 10%-selective repo
#   filter even with m=32 and ef=128-256; filtered queries are the shape of access control.
# - Larger segments get HNSW with m=32/ef_construct=200: recall 0.98 at ef=512 (~5 ms) at 100k, 0.94 at 300k
#   on the same hard data (real embeddings cluster and do better: 0.99 with the defaults on 8k of them); the
#   graph for 300k took ~11 minutes on 2 busy cores. Filters matching fewer vectors than the threshold still
#   search exactly through the payload index (recall 1.0 at 300k), and ACORN (recall 1.0) covers the rest.
#   Later small updates land in a plain appendable segment, so they never rebuild a graph.
INDEXING_THRESHOLD_KB = 200_000
HNSW_M = 32
HNSW_EF_CONSTRUCT = 200
HNSW_EF = 512

SCROLL_PAGE = 1000
FACET_LIMIT = 100_000


@dataclass
class Point:
    id: str  # UUID string (the pipeline derives uuid5 ids from repo, path and symbol)
    dense: Any  # list[float] or a 1-d numpy array
    sparse_indices: list[int] = field(default_factory=list)
    sparse_values: list[float] = field(default_factory=list)
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass
class Hit:
    id: str
    score: float
    payload: dict[str, Any]

    @property
    def chunk(self) -> ChunkPayload:
        """The payload, typed."""
        return ChunkPayload.from_dict(self.payload)


@dataclass
class SearchFilter:
    """Restrictions combined with AND; within one field any listed value matches.

    None means "no restriction"; an empty list matches nothing, so an empty allow-list from access control
    fails closed instead of opening everything.
    """

    repos: list[str] | None = None
    languages: list[str] | None = None
    kinds: list[str] | None = None
    paths: list[str] | None = None

    def conditions(self) -> list[tuple[str, list[str]]]:
        pairs = (
            ("repo", self.repos),
            ("language", self.languages),
            ("kind", self.kinds),
            ("path", self.paths),
        )
        return [(key, list(values)) for key, values in pairs if values is not None]

    def matches_nothing(self) -> bool:
        return any(not values for _, values in self.conditions())


def canonical_id(point_id: Any) -> str:
    """Both engines must hand back identical id strings, so every id goes through one canonical form."""
    try:
        return str(uuid.UUID(str(point_id)))
    except ValueError:
        raise StoreError(f"point id {point_id!r} is not a UUID") from None


def as_floats(vector: Any) -> list[float]:
    return vector.tolist() if hasattr(vector, "tolist") else [float(x) for x in vector]


def _empty(flt: SearchFilter | None) -> bool:
    return flt is not None and flt.matches_nothing()


class Store(ABC):
    """A vector engine behind one interface; subclasses implement the `_engine_*` primitives only.

    The primitives are called only once the guards passed: the store is open, the index exists and the
    filter can match something. `where` names the index in every error message.
    """

    where: str
    batch_size: int = 256  # points per write call
    page_size: int = SCROLL_PAGE  # ids per delete call and per scroll page

    def __init__(self) -> None:
        self._closed = False

    # -- what each engine implements

    @abstractmethod
    def _exists(self) -> bool:
        """Whether the index (shard or collection) has been created."""

    @abstractmethod
    def _errors(self, action: str) -> AbstractContextManager[None]:
        """Turn the engine's exceptions into StoreError subclasses worded for the user."""

    @abstractmethod
    def dim(self) -> int | None:
        """Dense size of the existing index, None before `ensure_schema` ever ran (nothing indexed yet)."""

    @abstractmethod
    def ensure_schema(self, dim: int) -> None:
        """Create the index when missing; refuse one built for another embedding size (model change)."""

    @abstractmethod
    def _engine_upsert(self, points: Sequence[Point]) -> None: ...

    @abstractmethod
    def _engine_delete(self, ids: list[str]) -> None: ...

    @abstractmethod
    def _engine_delete_where(self, flt: SearchFilter) -> None: ...

    @abstractmethod
    def _engine_dense(self, vector: list[float], limit: int, flt: SearchFilter | None) -> list[Hit]: ...

    @abstractmethod
    def _engine_sparse(self, indices: list[int], values: list[float], limit: int,
                       flt: SearchFilter | None) -> list[Hit]: ...

    @abstractmethod
    def _engine_hybrid(self, vector: list[float], sparse: tuple[list[int], list[float]] | None, limit: int,
                       flt: SearchFilter | None, prefetch: int) -> list[Hit]: ...

    @abstractmethod
    def _engine_retrieve(self, ids: list[str]) -> list[Hit]: ...

    @abstractmethod
    def _engine_count(self, flt: SearchFilter | None) -> int: ...

    @abstractmethod
    def _engine_scroll(self, flt: SearchFilter | None, offset: Any) -> tuple[list[Any], Any]:
        """One page of point ids and the offset of the next page (None at the end)."""

    @abstractmethod
    def _engine_facet(self, key: str, flt: SearchFilter | None) -> dict[str, int]: ...

    @abstractmethod
    def _engine_flush(self) -> None: ...

    @abstractmethod
    def _engine_close(self) -> None: ...

    # -- shared rules

    def _need(self) -> None:
        if self._closed:
            raise StoreError(f"{self.where} is closed")
        if not self._exists():
            raise StoreError(self._missing_message())

    def _missing_message(self) -> str:
        return f"no {self.where} yet: run indexing first"

    def upsert(self, points: Sequence[Point]) -> None:
        self._need()
        for start in range(0, len(points), self.batch_size):
            batch = [Point(canonical_id(p.id), as_floats(p.dense), list(p.sparse_indices),
                           as_floats(p.sparse_values), p.payload) for p in points[start:start + self.batch_size]]
            with self._errors("upsert"):
                self._engine_upsert(batch)

    def delete(self, ids: Sequence[str]) -> None:
        if not self._exists() and not self._closed:
            return  # no index yet, so nothing to delete
        self._need()
        canonical = [canonical_id(i) for i in ids]
        for start in range(0, len(canonical), self.page_size):
            with self._errors("delete"):
                self._engine_delete(canonical[start:start + self.page_size])

    def delete_where(self, flt: SearchFilter) -> None:
        """Delete by filter. As everywhere, an empty SearchFilter() means no restriction: it deletes every
        point (the schema stays), which is how a full rebuild on a server clears the old build."""
        if not self._exists() and not self._closed:
            return  # no index yet, so nothing to delete
        self._need()
        if flt.matches_nothing():
            return
        with self._errors("delete"):
            self._engine_delete_where(flt)

    def dense_search(self, vector: Any, limit: int, flt: SearchFilter | None = None) -> list[Hit]:
        self._need()
        if _empty(flt):
            return []
        with self._errors("search"):
            return self._engine_dense(as_floats(vector), limit, flt)

    def sparse_search(
        self, indices: list[int], values: list[float], limit: int, flt: SearchFilter | None = None
    ) -> list[Hit]:
        self._need()
        if not indices or _empty(flt):
            return []
        with self._errors("search"):
            return self._engine_sparse(list(indices), as_floats(values), limit, flt)

    def hybrid_search(
        self,
        vector: Any,
        indices: list[int],
        values: list[float],
        limit: int,
        flt: SearchFilter | None = None,
        prefetch: int = 50,
    ) -> list[Hit]:
        """Dense and sparse candidates fused by RRF inside the engine, so filters constrain both lists."""
        self._need()
        if _empty(flt):
            return []
        sparse = (list(indices), as_floats(values)) if indices else None
        with self._errors("search"):
            return self._engine_hybrid(as_floats(vector), sparse, limit, flt, max(prefetch, limit))

    def retrieve(self, ids: Sequence[str]) -> list[Hit]:
        """Points in the order asked for (missing ids skipped); score is 0."""
        self._need()
        wanted = list(dict.fromkeys(canonical_id(i) for i in ids))
        if not wanted:
            return []
        with self._errors("retrieve"):
            found = {h.id: h for h in self._engine_retrieve(wanted)}
        return [found[i] for i in wanted if i in found]

    def count(self, flt: SearchFilter | None = None) -> int:
        self._need()
        if _empty(flt):
            return 0
        with self._errors("count"):
            return self._engine_count(flt)

    def iter_ids(self, flt: SearchFilter | None = None) -> Iterator[str]:
        """Page through ids without payloads; collect them before deleting, pages shift under deletes."""
        self._need()
        if _empty(flt):
            return
        offset = None
        while True:
            with self._errors("scroll"):
                ids, offset = self._engine_scroll(flt, offset)
            for point_id in ids:
                yield canonical_id(point_id)
            if offset is None:
                return

    def facet_counts(self, key: str, flt: SearchFilter | None = None) -> dict[str, int]:
        self._need()
        if _empty(flt):
            return {}
        with self._errors("facet"):
            # A keyword index may remember values whose points were deleted, with a count of 0.
            return {value: n for value, n in self._engine_facet(key, flt).items() if n > 0}

    def flush(self) -> None:
        """Make writes durable and the index fast to query (edge: builds HNSW graphs after a bulk load)."""
        if self._closed:
            raise StoreError(f"{self.where} is closed")
        if self._exists():
            self._engine_flush()

    def close(self) -> None:
        """Release the engine (and its directory lock); safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._engine_close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def hits(points: Sequence[Any]) -> list[Hit]:
    """Engine results (objects with id, score and payload) as Hits with canonical ids."""
    return [Hit(canonical_id(p.id), float(getattr(p, "score", 0.0) or 0.0), dict(p.payload or {})) for p in points]
