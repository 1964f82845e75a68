"""The vector store behind dayone: one interface, two engines.

Everything above this module (pipeline, search, UI) talks to `Store`, so the same code runs on the embedded
engine (qdrant-edge, the default: no server to install) and on a Qdrant server (teams that already run one).
Both speak Qdrant's query model, which is why hybrid retrieval (dense + sparse prefetch fused by RRF) and the
payload filters run *inside* the engine in both: access control will rely on filters never being a Python
post-filter that a bug could skip.

Measured facts about qdrant-edge-py 0.9.0 (on 2 CPU cores) that shaped this module:

- Locking: an open shard holds an exclusive, non-blocking `flock` on its `wal/` directory; there is no lock
  file. A second opener, in another process or in this one, fails with "Can't init WAL: Kind(WouldBlock)",
  which we turn into a StoreError. There is no read-only opener, so a UI process that queries a shard keeps
  the indexer out of it. The lock goes with close() or with the process (kill -9 too): nothing stale remains.
  (qdrant-client's local mode locks a `.lock` file in its folder the same way.)
- Copying: a closed shard copied with `shutil.copytree` loads and answers queries at its new path, and
  updating the copy leaves the original untouched, so a new index generation can be built as a copy of the
  previous one. A shard held open by another process that only queries copies fine too (flock does not
  block reads). Copies taken while a writer had unflushed writes also loaded (the WAL is replayed), but a
  copy racing live writes is a torn snapshot by nature: copy only generations nobody writes to.
- Crash safety: writers killed with SIGKILL in the middle of a stream of upserts (3 trials, up to 105k
  points) reloaded in 0.7-2.1 s with every acknowledged batch; one killed in the middle of optimize()
  reloaded with all its points, and the next optimize() redid the work.
- Indexing: qdrant-edge has no background optimizer, so `EdgeStore.flush()` runs optimize() after writes;
  with the thresholds below it only builds HNSW graphs for very large indexes (see _INDEXING_THRESHOLD_KB).
"""

from __future__ import annotations

import json
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from indexer.settings import StoreSettings

DENSE = "dense"
SPARSE = "sparse"
PAYLOAD_INDEXES = ("repo", "path", "language", "kind", "symbol")

# RRF constant. Qdrant's own default is 2, which lets a single first place dominate; 60 (the value from the
# original RRF paper) rewards agreement between the dense and sparse rankings. Both engines compute
# 1 / (k + rank0), so the same k gives the same fused scores.
RRF_K = 60

# Search settings, chosen from recall@10 against exact search measured on 100k x 384-dim normalized vectors
# (sampled with the covariance of real all-MiniLM-L6-v2 code embeddings: a hard case) on 2 CPU cores:
# - Segments up to _INDEXING_THRESHOLD_KB of vectors (~130k 384-dim points) get no HNSW graph and are
#   searched exactly: recall 1.0 with or without filters, dense p50 ~8 ms at 100k, no graph build time.
#   HNSW gave recall 0.70 with the defaults (m=16, ef=100), and 0.49-0.66 under a 10%-selective repo
#   filter even with m=32 and ef=128-256; filtered queries are the shape of access control.
# - Larger segments get HNSW with m=32/ef_construct=200: recall 0.98 at ef=512 (~5 ms) at 100k, 0.94 at 300k
#   on the same hard data (real embeddings cluster and do better: 0.99 with the defaults on 8k of them); the
#   graph for 300k took ~11 minutes on 2 busy cores. Filters matching fewer vectors than the threshold still
#   search exactly through the payload index (recall 1.0 at 300k), and ACORN (recall 1.0) covers the rest.
#   Later small updates land in a plain appendable segment, so they never rebuild a graph.
_INDEXING_THRESHOLD_KB = 200_000
_HNSW_M = 32
_HNSW_EF_CONSTRUCT = 200
_HNSW_EF = 512

_EDGE_BATCH = 512  # points per update call: 64..4096 all gave 15-16k points/s; 512 bounds memory
_CLIENT_BATCH = 256  # keeps one HTTP request to a few MB with 384-dim vectors and chunk text
_SCROLL_PAGE = 1000
_FACET_LIMIT = 100_000
_CLIENT_TIMEOUT_S = 10


class StoreError(Exception):
    """A store failure worded for the user in one line; the engine's own error stays as __cause__."""


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


# How a full disk (ENOSPC, EDQUOT) or a file-size limit (EFBIG) reads in the engine's errors: not "in use".
_DISK_FULL = ("StorageFull", "No space left", "FileTooLarge", "File too large", "QuotaExceeded", "Disk quota")


def _canonical_id(point_id: Any) -> str:
    """Both engines must hand back identical id strings, so every id goes through one canonical form."""
    try:
        return str(uuid.UUID(str(point_id)))
    except ValueError:
        raise StoreError(f"point id {point_id!r} is not a UUID") from None


def _as_floats(vector: Any) -> list[float]:
    return vector.tolist() if hasattr(vector, "tolist") else [float(x) for x in vector]


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    text = text.splitlines()[0].removeprefix("Service runtime error: ")
    return text if len(text) <= 300 else text[:297] + "..."


class Store(ABC):
    """What the indexing pipeline and the search layer need from a vector engine, and nothing more."""

    @abstractmethod
    def dim(self) -> int | None:
        """Dense size of the existing index, None before `ensure_schema` ever ran (nothing indexed yet)."""

    @abstractmethod
    def ensure_schema(self, dim: int) -> None:
        """Create the index when missing; refuse one built for another embedding size (model change)."""

    @abstractmethod
    def upsert(self, points: Sequence[Point]) -> None: ...

    @abstractmethod
    def delete(self, ids: Sequence[str]) -> None: ...

    @abstractmethod
    def delete_where(self, flt: SearchFilter) -> None:
        """Delete by filter. As everywhere, an empty SearchFilter() means no restriction: it deletes every
        point (the schema stays), which is how a full rebuild on a server clears the old build."""

    @abstractmethod
    def dense_search(self, vector: Any, limit: int, flt: SearchFilter | None = None) -> list[Hit]: ...

    @abstractmethod
    def sparse_search(
        self, indices: list[int], values: list[float], limit: int, flt: SearchFilter | None = None
    ) -> list[Hit]: ...

    @abstractmethod
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

    @abstractmethod
    def retrieve(self, ids: Sequence[str]) -> list[Hit]:
        """Points in the order asked for (missing ids skipped); score is 0."""

    @abstractmethod
    def count(self, flt: SearchFilter | None = None) -> int: ...

    @abstractmethod
    def iter_ids(self, flt: SearchFilter | None = None) -> Iterator[str]:
        """Page through ids without payloads; collect them before deleting, pages shift under deletes."""

    @abstractmethod
    def facet_counts(self, key: str, flt: SearchFilter | None = None) -> dict[str, int]: ...

    @abstractmethod
    def flush(self) -> None:
        """Make writes durable and the index fast to query (edge: builds HNSW graphs after a bulk load)."""

    @abstractmethod
    def close(self) -> None:
        """Release the engine (and its directory lock); safe to call twice."""

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


# --------------------------------------------------------------------------------------------------------
# qdrant-edge


class EdgeStore(Store):
    """Qdrant's engine in-process: no server to run, but one directory serves one process at a time."""

    def __init__(self, path: Path) -> None:
        from qdrant_edge import EdgeShard

        self.path = Path(path)
        self._shard: Any = None
        self._dim: int | None = None
        self._dirty = False
        self._closed = False
        # A shard exists once edge_config.json does; before that, ensure_schema creates it. Loading takes the
        # lock now, so a second dayone process fails here rather than at its first write.
        if (self.path / "edge_config.json").is_file():
            with self._errors("open"):
                self._shard = EdgeShard.load(str(self.path))
            try:
                self._dim = self._read_dim()
            except StoreError:
                self.close()  # release the lock: the caller never gets this object to close
                raise

    # -- helpers

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except StoreError:
            raise
        except BaseException as exc:
            # pyo3 panics derive from BaseException; Ctrl-C and friends must still propagate untouched.
            if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
                raise
            msg = _one_line(exc)
            if any(sign in msg for sign in _DISK_FULL):
                raise StoreError(f"index at {self.path}: {action} failed: the disk is full ({msg})") from exc
            if "WouldBlock" in msg or "Can't init WAL" in msg:
                raise StoreError(f"index at {self.path} is in use by another dayone process") from exc
            raise StoreError(f"index at {self.path}: {action} failed: {msg}") from exc

    def _need(self) -> Any:
        if self._closed:
            raise StoreError(f"index at {self.path} is closed")
        if self._shard is None:
            raise StoreError(f"no index at {self.path} yet: run indexing first")
        return self._shard

    def _read_dim(self) -> int | None:
        try:
            cfg = json.loads((self.path / "edge_config.json").read_text(encoding="utf-8"))
            vectors, sparse = cfg.get("vectors", {}), cfg.get("sparse_vectors", {})
        except (OSError, ValueError, AttributeError) as exc:
            raise StoreError(f"index at {self.path} has an unreadable edge_config.json: {exc}") from exc
        if DENSE not in vectors or SPARSE not in sparse:
            raise StoreError(f"index at {self.path} was not created by dayone (no '{DENSE}'/'{SPARSE}' vectors)")
        return int(vectors[DENSE]["size"])

    @staticmethod
    def _filter(flt: SearchFilter | None) -> Any:
        from qdrant_edge import FieldCondition, Filter, MatchAny

        if flt is None or not flt.conditions():
            return None
        return Filter(must=[FieldCondition(key, match=MatchAny(values)) for key, values in flt.conditions()])

    @staticmethod
    def _hits(points: Sequence[Any]) -> list[Hit]:
        return [Hit(_canonical_id(p.id), float(p.score), dict(p.payload or {})) for p in points]

    def _query(self, request: Any) -> list[Hit]:
        shard = self._need()
        with self._errors("search"):
            return self._hits(shard.query(request))

    # -- Store

    def dim(self) -> int | None:
        return self._dim

    def ensure_schema(self, dim: int) -> None:
        from qdrant_edge import (
            Distance,
            EdgeConfig,
            EdgeOptimizersConfig,
            EdgeShard,
            EdgeSparseVectorParams,
            EdgeVectorParams,
            HnswIndexConfig,
            Modifier,
            PayloadSchemaType,
            UpdateOperation,
        )

        if self._closed:
            raise StoreError(f"index at {self.path} is closed")
        if self._shard is not None:
            if self._dim != dim:
                raise StoreError(
                    f"index at {self.path} holds {self._dim}-dim vectors but the embedding model makes "
                    f"{dim}-dim ones: rebuild the index"
                )
        else:
            config = EdgeConfig(
                vectors={DENSE: EdgeVectorParams(size=dim, distance=Distance.Cosine)},
                sparse_vectors={SPARSE: EdgeSparseVectorParams(modifier=Modifier.Idf)},
                hnsw_config=HnswIndexConfig(
                    m=_HNSW_M, ef_construct=_HNSW_EF_CONSTRUCT, full_scan_threshold=_INDEXING_THRESHOLD_KB
                ),
                optimizers=EdgeOptimizersConfig(indexing_threshold=_INDEXING_THRESHOLD_KB),
            )
            self.path.mkdir(parents=True, exist_ok=True)
            with self._errors("create"):
                self._shard = EdgeShard.create(str(self.path), config)
            self._dim = dim
        with self._errors("create payload index"):
            existing = set(self._shard.info().payload_schema)
            for name in PAYLOAD_INDEXES:
                if name not in existing:
                    self._shard.update(UpdateOperation.create_field_index(name, PayloadSchemaType.Keyword))

    def upsert(self, points: Sequence[Point]) -> None:
        from qdrant_edge import Point as EdgePoint
        from qdrant_edge import SparseVector, UpdateOperation

        shard = self._need()
        for start in range(0, len(points), _EDGE_BATCH):
            batch = []
            for p in points[start : start + _EDGE_BATCH]:
                vectors: dict[str, Any] = {DENSE: _as_floats(p.dense)}
                if p.sparse_indices:
                    vectors[SPARSE] = SparseVector(list(p.sparse_indices), _as_floats(p.sparse_values))
                batch.append(EdgePoint(_canonical_id(p.id), vectors, p.payload))
            with self._errors("upsert"):
                shard.update(UpdateOperation.upsert_points(batch))
            self._dirty = True

    def delete(self, ids: Sequence[str]) -> None:
        from qdrant_edge import UpdateOperation

        if self._shard is None and not self._closed:
            return  # no index yet, so nothing to delete
        shard = self._need()
        ids = [_canonical_id(i) for i in ids]
        for start in range(0, len(ids), _SCROLL_PAGE):
            with self._errors("delete"):
                shard.update(UpdateOperation.delete_points(ids[start : start + _SCROLL_PAGE]))
            self._dirty = True

    def delete_where(self, flt: SearchFilter) -> None:
        from qdrant_edge import Filter, UpdateOperation

        if self._shard is None and not self._closed:
            return  # no index yet, so nothing to delete
        shard = self._need()
        if flt.matches_nothing():
            return
        with self._errors("delete"):
            shard.update(UpdateOperation.delete_points_by_filter(self._filter(flt) or Filter()))
        self._dirty = True

    def _search_params(self) -> Any:
        from qdrant_edge import AcornSearchParams, SearchParams

        return SearchParams(hnsw_ef=_HNSW_EF, acorn=AcornSearchParams(enable=True))

    def dense_search(self, vector: Any, limit: int, flt: SearchFilter | None = None) -> list[Hit]:
        from qdrant_edge import Query, QueryRequest

        if flt is not None and flt.matches_nothing():
            return []
        return self._query(
            QueryRequest(
                limit=limit,
                query=Query.Nearest(_as_floats(vector), using=DENSE),
                filter=self._filter(flt),
                params=self._search_params(),
                with_payload=True,
            )
        )

    def sparse_search(
        self, indices: list[int], values: list[float], limit: int, flt: SearchFilter | None = None
    ) -> list[Hit]:
        from qdrant_edge import Query, QueryRequest, SparseVector

        if not indices or (flt is not None and flt.matches_nothing()):
            return []
        return self._query(
            QueryRequest(
                limit=limit,
                query=Query.Nearest(SparseVector(list(indices), _as_floats(values)), using=SPARSE),
                filter=self._filter(flt),
                with_payload=True,
            )
        )

    def hybrid_search(
        self,
        vector: Any,
        indices: list[int],
        values: list[float],
        limit: int,
        flt: SearchFilter | None = None,
        prefetch: int = 50,
    ) -> list[Hit]:
        from qdrant_edge import Fusion, Prefetch, Query, QueryRequest, SparseVector

        if flt is not None and flt.matches_nothing():
            return []
        engine_filter = self._filter(flt)
        prefetches = [
            Prefetch(
                limit=max(prefetch, limit),
                query=Query.Nearest(_as_floats(vector), using=DENSE),
                filter=engine_filter,
                params=self._search_params(),
            )
        ]
        if indices:
            prefetches.append(
                Prefetch(
                    limit=max(prefetch, limit),
                    query=Query.Nearest(SparseVector(list(indices), _as_floats(values)), using=SPARSE),
                    filter=engine_filter,
                )
            )
        return self._query(
            QueryRequest(
                limit=limit,
                prefetches=prefetches,
                query=Fusion.Rrf(k=RRF_K),
                filter=engine_filter,
                with_payload=True,
            )
        )

    def retrieve(self, ids: Sequence[str]) -> list[Hit]:
        shard = self._need()
        wanted = list(dict.fromkeys(_canonical_id(i) for i in ids))
        if not wanted:
            return []
        with self._errors("retrieve"):
            records = shard.retrieve(wanted, True, False)
        found = {_canonical_id(r.id): Hit(_canonical_id(r.id), 0.0, dict(r.payload or {})) for r in records}
        return [found[i] for i in wanted if i in found]

    def count(self, flt: SearchFilter | None = None) -> int:
        from qdrant_edge import CountRequest

        shard = self._need()
        if flt is not None and flt.matches_nothing():
            return 0
        with self._errors("count"):
            return int(shard.count(CountRequest(exact=True, filter=self._filter(flt))))

    def iter_ids(self, flt: SearchFilter | None = None) -> Iterator[str]:
        from qdrant_edge import ScrollRequest

        shard = self._need()
        if flt is not None and flt.matches_nothing():
            return
        offset = None
        engine_filter = self._filter(flt)
        while True:
            with self._errors("scroll"):
                records, offset = shard.scroll(
                    ScrollRequest(
                        offset=offset,
                        limit=_SCROLL_PAGE,
                        filter=engine_filter,
                        with_payload=False,
                        with_vector=False,
                    )
                )
            for r in records:
                yield _canonical_id(r.id)
            if offset is None:
                return

    def facet_counts(self, key: str, flt: SearchFilter | None = None) -> dict[str, int]:
        from qdrant_edge import FacetRequest

        shard = self._need()
        if flt is not None and flt.matches_nothing():
            return {}
        with self._errors("facet"):
            response = shard.facet(FacetRequest(key, limit=_FACET_LIMIT, exact=True, filter=self._filter(flt)))
        # The keyword index remembers values whose points were deleted, with a count of 0.
        return {str(h.value): int(h.count) for h in response.hits if h.count > 0}

    def optimize(self) -> None:
        """Build HNSW graphs and merge/vacuum segments now; edge never does it in the background."""
        shard = self._need()
        with self._errors("optimize"):
            shard.optimize()
        self._dirty = False

    def flush(self) -> None:
        if self._shard is None and not self._closed:
            return  # nothing was ever created, nothing to persist
        shard = self._need()
        with self._errors("flush"):
            shard.flush()
        if self._dirty:
            self.optimize()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        shard, self._shard = self._shard, None
        if shard is not None:
            with self._errors("close"):
                try:
                    shard.flush()
                finally:
                    shard.close()


# --------------------------------------------------------------------------------------------------------
# qdrant-client (server, or local mode for tests)


class QdrantClientStore(Store):
    """A Qdrant server through qdrant-client (or its local mode, which is slow but speaks the same API)."""

    def __init__(
        self,
        *,
        url: str | None = None,
        path: Path | None = None,
        api_key: str | None = None,
        collection: str = "dayone_chunks",
    ) -> None:
        from qdrant_client import QdrantClient

        if (url is None) == (path is None):
            raise ValueError("QdrantClientStore needs exactly one of url or path")
        self.url = url
        self.path = Path(path) if path is not None else None
        self.collection = collection
        self._where = f"Qdrant server at {url}" if url else f"index at {self.path}"
        self._closed = False
        self._dim: int | None = None
        self._has_schema = False
        if url:
            self._client = QdrantClient(
                url=url,
                api_key=api_key or None,
                timeout=_CLIENT_TIMEOUT_S,
                prefer_grpc=False,
                check_compatibility=False,
            )
        else:
            try:
                self._client = QdrantClient(path=str(self.path), prefer_grpc=False)
            except RuntimeError as exc:
                if "already accessed" in str(exc):
                    raise StoreError(f"index at {self.path} is in use by another dayone process") from exc
                raise StoreError(f"index at {self.path}: open failed: {_one_line(exc)}") from exc
        # Probe now so an unreachable server is reported once, at startup, not at the first search.
        try:
            with self._errors("connect"):
                if self._client.collection_exists(collection):
                    self._dim = self._read_dim()
                    self._has_schema = True
        except StoreError:
            self.close()  # release connections (or local mode's lock): the caller never gets this object
            raise

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

        try:
            yield
        except StoreError:
            raise
        except ResponseHandlingException as exc:
            raise StoreError(f"{self._where} is unreachable: {_one_line(exc.source)}") from exc
        except UnexpectedResponse as exc:
            detail = exc.content.decode("utf-8", "replace").strip()
            with suppress(ValueError, KeyError, TypeError):
                detail = json.loads(detail)["status"]["error"]
            raise StoreError(
                f"{self._where}: {action} failed: HTTP {exc.status_code}: {_one_line(Exception(detail))}"
            ) from exc
        except Exception as exc:
            raise StoreError(f"{self._where}: {action} failed: {_one_line(exc)}") from exc

    def _need(self) -> Any:
        if self._closed:
            raise StoreError(f"{self._where}: store is closed")
        if not self._has_schema:
            raise StoreError(f"{self._where} has no collection '{self.collection}' yet: run indexing first")
        return self._client

    def _read_dim(self) -> int:
        params = self._client.get_collection(self.collection).config.params
        vectors, sparse = params.vectors, params.sparse_vectors or {}
        if not isinstance(vectors, dict) or DENSE not in vectors or SPARSE not in sparse:
            raise StoreError(
                f"{self._where}: collection '{self.collection}' was not created by dayone "
                f"(no '{DENSE}'/'{SPARSE}' vectors)"
            )
        return int(vectors[DENSE].size)

    @staticmethod
    def _filter(flt: SearchFilter | None) -> Any:
        from qdrant_client import models

        if flt is None or not flt.conditions():
            return None
        return models.Filter(
            must=[models.FieldCondition(key=key, match=models.MatchAny(any=values)) for key, values in flt.conditions()]
        )

    @staticmethod
    def _hits(points: Sequence[Any]) -> list[Hit]:
        return [Hit(_canonical_id(p.id), float(p.score), dict(p.payload or {})) for p in points]

    def _search_params(self) -> Any:
        from qdrant_client import models

        # Local mode always searches exactly and warns about search params on every query.
        if not self.url:
            return None
        return models.SearchParams(hnsw_ef=_HNSW_EF, acorn=models.AcornSearchParams(enable=True))

    def dim(self) -> int | None:
        return self._dim

    def ensure_schema(self, dim: int) -> None:
        from qdrant_client import models

        if self._closed:
            raise StoreError(f"{self._where}: store is closed")
        with self._errors("create collection"):
            if self._client.collection_exists(self.collection):
                self._dim = self._read_dim()
                if self._dim != dim:
                    raise StoreError(
                        f"{self._where}: collection '{self.collection}' holds {self._dim}-dim vectors but "
                        f"the embedding model makes {dim}-dim ones: rebuild the index"
                    )
            else:
                self._client.create_collection(
                    self.collection,
                    vectors_config={DENSE: models.VectorParams(size=dim, distance=models.Distance.COSINE)},
                    sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
                    # The embedded engine's index policy, so that both engines return the same hits.
                    hnsw_config=models.HnswConfigDiff(
                        m=_HNSW_M,
                        ef_construct=_HNSW_EF_CONSTRUCT,
                        full_scan_threshold=_INDEXING_THRESHOLD_KB,
                    ),
                    optimizers_config=models.OptimizersConfigDiff(indexing_threshold=_INDEXING_THRESHOLD_KB),
                )
                self._dim = dim
            self._has_schema = True
            # Local mode has no payload indexes and warns on every attempt; a server needs them for fast
            # filtered search. Creating an existing index again is a no-op on the server.
            if self.url:
                for name in PAYLOAD_INDEXES:
                    self._client.create_payload_index(
                        self.collection, name, field_schema=models.PayloadSchemaType.KEYWORD, wait=True
                    )

    def upsert(self, points: Sequence[Point]) -> None:
        from qdrant_client import models

        client = self._need()
        for start in range(0, len(points), _CLIENT_BATCH):
            batch = []
            for p in points[start : start + _CLIENT_BATCH]:
                vectors: dict[str, Any] = {DENSE: _as_floats(p.dense)}
                if p.sparse_indices:
                    vectors[SPARSE] = models.SparseVector(
                        indices=list(p.sparse_indices), values=_as_floats(p.sparse_values)
                    )
                batch.append(models.PointStruct(id=_canonical_id(p.id), vector=vectors, payload=p.payload))
            with self._errors("upsert"):
                client.upsert(self.collection, points=batch, wait=True)

    def delete(self, ids: Sequence[str]) -> None:
        from qdrant_client import models

        if not self._has_schema and not self._closed:
            return  # no collection yet, so nothing to delete
        client = self._need()
        ids = [_canonical_id(i) for i in ids]
        for start in range(0, len(ids), _SCROLL_PAGE):
            with self._errors("delete"):
                client.delete(
                    self.collection,
                    points_selector=models.PointIdsList(points=ids[start : start + _SCROLL_PAGE]),
                    wait=True,
                )

    def delete_where(self, flt: SearchFilter) -> None:
        from qdrant_client import models

        if not self._has_schema and not self._closed:
            return  # no collection yet, so nothing to delete
        client = self._need()
        if flt.matches_nothing():
            return
        selector = models.FilterSelector(filter=self._filter(flt) or models.Filter())
        with self._errors("delete"):
            client.delete(self.collection, points_selector=selector, wait=True)

    def _query(self, **kwargs: Any) -> list[Hit]:
        client = self._need()
        with self._errors("search"):
            return self._hits(client.query_points(self.collection, with_payload=True, **kwargs).points)

    def dense_search(self, vector: Any, limit: int, flt: SearchFilter | None = None) -> list[Hit]:
        if flt is not None and flt.matches_nothing():
            return []
        return self._query(
            query=_as_floats(vector),
            using=DENSE,
            limit=limit,
            query_filter=self._filter(flt),
            search_params=self._search_params(),
        )

    def sparse_search(
        self, indices: list[int], values: list[float], limit: int, flt: SearchFilter | None = None
    ) -> list[Hit]:
        from qdrant_client import models

        if not indices or (flt is not None and flt.matches_nothing()):
            return []
        return self._query(
            query=models.SparseVector(indices=list(indices), values=_as_floats(values)),
            using=SPARSE,
            limit=limit,
            query_filter=self._filter(flt),
        )

    def hybrid_search(
        self,
        vector: Any,
        indices: list[int],
        values: list[float],
        limit: int,
        flt: SearchFilter | None = None,
        prefetch: int = 50,
    ) -> list[Hit]:
        from qdrant_client import models

        if flt is not None and flt.matches_nothing():
            return []
        engine_filter = self._filter(flt)
        prefetches = [
            models.Prefetch(
                query=_as_floats(vector),
                using=DENSE,
                limit=max(prefetch, limit),
                filter=engine_filter,
                params=self._search_params(),
            )
        ]
        if indices:
            prefetches.append(
                models.Prefetch(
                    query=models.SparseVector(indices=list(indices), values=_as_floats(values)),
                    using=SPARSE,
                    limit=max(prefetch, limit),
                    filter=engine_filter,
                )
            )
        return self._query(
            prefetch=prefetches,
            query=models.RrfQuery(rrf=models.Rrf(k=RRF_K)),
            limit=limit,
            query_filter=engine_filter,
        )

    def retrieve(self, ids: Sequence[str]) -> list[Hit]:
        client = self._need()
        wanted = list(dict.fromkeys(_canonical_id(i) for i in ids))
        if not wanted:
            return []
        with self._errors("retrieve"):
            records = client.retrieve(self.collection, wanted, with_payload=True, with_vectors=False)
        found = {_canonical_id(r.id): Hit(_canonical_id(r.id), 0.0, dict(r.payload or {})) for r in records}
        return [found[i] for i in wanted if i in found]

    def count(self, flt: SearchFilter | None = None) -> int:
        client = self._need()
        if flt is not None and flt.matches_nothing():
            return 0
        with self._errors("count"):
            return int(client.count(self.collection, count_filter=self._filter(flt), exact=True).count)

    def iter_ids(self, flt: SearchFilter | None = None) -> Iterator[str]:
        client = self._need()
        if flt is not None and flt.matches_nothing():
            return
        offset = None
        engine_filter = self._filter(flt)
        while True:
            with self._errors("scroll"):
                records, offset = client.scroll(
                    self.collection,
                    scroll_filter=engine_filter,
                    limit=_SCROLL_PAGE,
                    offset=offset,
                    with_payload=False,
                    with_vectors=False,
                )
            for r in records:
                yield _canonical_id(r.id)
            if offset is None:
                return

    def facet_counts(self, key: str, flt: SearchFilter | None = None) -> dict[str, int]:
        client = self._need()
        if flt is not None and flt.matches_nothing():
            return {}
        with self._errors("facet"):
            response = client.facet(
                self.collection, key, facet_filter=self._filter(flt), limit=_FACET_LIMIT, exact=True
            )
        return {str(h.value): int(h.count) for h in response.hits}

    def flush(self) -> None:
        # Writes already waited for the server (wait=True) and local mode persists each one; nothing to do.
        if self._closed:
            raise StoreError(f"{self._where}: store is closed")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Closing only drops HTTP connections or the local lock; a dead server must not fail shutdown.
        with suppress(Exception):
            self._client.close()


def open_store(settings_store: StoreSettings, edge_path: Path) -> Store:
    """The configured engine: a Qdrant server when a URL is set, else the embedded shard at `edge_path`."""
    if settings_store.qdrant_url:
        return QdrantClientStore(
            url=settings_store.qdrant_url,
            api_key=settings_store.qdrant_api_key or None,
            collection=settings_store.collection,
        )
    return EdgeStore(edge_path)
