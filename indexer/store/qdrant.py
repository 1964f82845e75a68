"""A Qdrant server through qdrant-client (or its local mode, which is slow but speaks the same API): for teams."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from indexer.store.base import (
    DENSE,
    FACET_LIMIT,
    HNSW_EF,
    HNSW_EF_CONSTRUCT,
    HNSW_M,
    INDEXING_THRESHOLD_KB,
    RRF_K,
    SPARSE,
    Hit,
    Point,
    SearchFilter,
    Store,
    canonical_id,
    hits,
)
from indexer.store.errors import StoreError, StoreInUse, StoreUnreachable, one_line
from indexer.store.payload import INDEXED_KEYS

_CLIENT_TIMEOUT_S = 10


class QdrantClientStore(Store):
    """A Qdrant server through qdrant-client (or its local mode, which is slow but speaks the same API)."""

    batch_size = 256  # keeps one HTTP request to a few MB with 384-dim vectors and chunk text

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
        super().__init__()
        self.url = url
        self.path = Path(path) if path is not None else None
        self.collection = collection
        self.where = f"Qdrant server at {url}" if url else f"index at {self.path}"
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
                    raise StoreInUse(f"{self.where} is in use by another dayone process") from exc
                raise StoreError(f"{self.where}: open failed: {one_line(exc)}") from exc
        # Probe now so an unreachable server is reported once, at startup, not at the first search.
        try:
            with self._errors("connect"):
                if self._client.collection_exists(collection):
                    self._dim = self._read_dim()
                    self._has_schema = True
        except StoreError:
            self.close()  # release connections (or local mode's lock): the caller never gets this object
            raise

    def _missing_message(self) -> str:
        return f"{self.where} has no collection '{self.collection}' yet: run indexing first"

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

        try:
            yield
        except StoreError:
            raise
        except ResponseHandlingException as exc:
            raise StoreUnreachable(f"{self.where} is unreachable: {one_line(exc.source)}") from exc
        except UnexpectedResponse as exc:
            detail = exc.content.decode("utf-8", "replace").strip()
            with suppress(ValueError, KeyError, TypeError):
                detail = json.loads(detail)["status"]["error"]
            raise StoreError(
                f"{self.where}: {action} failed: HTTP {exc.status_code}: {one_line(Exception(detail))}"
            ) from exc
        except Exception as exc:
            raise StoreError(f"{self.where}: {action} failed: {one_line(exc)}") from exc

    def _exists(self) -> bool:
        return self._has_schema

    def _read_dim(self) -> int:
        params = self._client.get_collection(self.collection).config.params
        vectors, sparse = params.vectors, params.sparse_vectors or {}
        if not isinstance(vectors, dict) or DENSE not in vectors or SPARSE not in sparse:
            raise StoreError(
                f"{self.where}: collection '{self.collection}' was not created by dayone "
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

    def _params(self) -> Any:
        from qdrant_client import models

        # Local mode always searches exactly and warns about search params on every query.
        if not self.url:
            return None
        return models.SearchParams(hnsw_ef=HNSW_EF, acorn=models.AcornSearchParams(enable=True))

    def dim(self) -> int | None:
        return self._dim

    def ensure_schema(self, dim: int) -> None:
        from qdrant_client import models

        if self._closed:
            raise StoreError(f"{self.where} is closed")
        with self._errors("create collection"):
            if self._client.collection_exists(self.collection):
                self._dim = self._read_dim()
                if self._dim != dim:
                    raise StoreError(
                        f"{self.where}: collection '{self.collection}' holds {self._dim}-dim vectors but "
                        f"the embedding model makes {dim}-dim ones: rebuild the index"
                    )
            else:
                self._client.create_collection(
                    self.collection,
                    vectors_config={DENSE: models.VectorParams(size=dim, distance=models.Distance.COSINE)},
                    sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
                    # The embedded engine's index policy, so that both engines return the same hits.
                    hnsw_config=models.HnswConfigDiff(
                        m=HNSW_M,
                        ef_construct=HNSW_EF_CONSTRUCT,
                        full_scan_threshold=INDEXING_THRESHOLD_KB,
                    ),
                    optimizers_config=models.OptimizersConfigDiff(indexing_threshold=INDEXING_THRESHOLD_KB),
                )
                self._dim = dim
            self._has_schema = True
            # Local mode has no payload indexes and warns on every attempt; a server needs them for fast
            # filtered search. Creating an existing index again is a no-op on the server.
            if self.url:
                for name in INDEXED_KEYS:
                    self._client.create_payload_index(
                        self.collection, name, field_schema=models.PayloadSchemaType.KEYWORD, wait=True
                    )

    def _engine_upsert(self, points: Sequence[Point]) -> None:
        from qdrant_client import models

        batch = []
        for p in points:
            vectors: dict[str, Any] = {DENSE: p.dense}
            if p.sparse_indices:
                vectors[SPARSE] = models.SparseVector(indices=p.sparse_indices, values=p.sparse_values)
            batch.append(models.PointStruct(id=p.id, vector=vectors, payload=p.payload))
        self._client.upsert(self.collection, points=batch, wait=True)

    def _engine_delete(self, ids: list[str]) -> None:
        from qdrant_client import models

        self._client.delete(self.collection, points_selector=models.PointIdsList(points=ids), wait=True)

    def _engine_delete_where(self, flt: SearchFilter) -> None:
        from qdrant_client import models

        selector = models.FilterSelector(filter=self._filter(flt) or models.Filter())
        self._client.delete(self.collection, points_selector=selector, wait=True)

    def _query(self, **kwargs: Any) -> list[Hit]:
        return hits(self._client.query_points(self.collection, with_payload=True, **kwargs).points)

    def _engine_dense(self, vector: list[float], limit: int, flt: SearchFilter | None) -> list[Hit]:
        return self._query(query=vector, using=DENSE, limit=limit, query_filter=self._filter(flt),
                           search_params=self._params())

    def _engine_sparse(self, indices: list[int], values: list[float], limit: int,
                       flt: SearchFilter | None) -> list[Hit]:
        from qdrant_client import models

        return self._query(query=models.SparseVector(indices=indices, values=values), using=SPARSE, limit=limit,
                           query_filter=self._filter(flt))

    def _engine_hybrid(self, vector: list[float], sparse: tuple[list[int], list[float]] | None, limit: int,
                       flt: SearchFilter | None, prefetch: int) -> list[Hit]:
        from qdrant_client import models

        engine_filter = self._filter(flt)
        prefetches = [models.Prefetch(query=vector, using=DENSE, limit=prefetch, filter=engine_filter,
                                      params=self._params())]
        if sparse:
            prefetches.append(models.Prefetch(query=models.SparseVector(indices=sparse[0], values=sparse[1]),
                                              using=SPARSE, limit=prefetch, filter=engine_filter))
        return self._query(prefetch=prefetches, query=models.RrfQuery(rrf=models.Rrf(k=RRF_K)), limit=limit,
                           query_filter=engine_filter)

    def _engine_retrieve(self, ids: list[str]) -> list[Hit]:
        records = self._client.retrieve(self.collection, ids, with_payload=True, with_vectors=False)
        return [Hit(canonical_id(r.id), 0.0, dict(r.payload or {})) for r in records]

    def _engine_count(self, flt: SearchFilter | None) -> int:
        return int(self._client.count(self.collection, count_filter=self._filter(flt), exact=True).count)

    def _engine_scroll(self, flt: SearchFilter | None, offset: Any) -> tuple[list[Any], Any]:
        records, offset = self._client.scroll(self.collection, scroll_filter=self._filter(flt), limit=self.page_size,
                                              offset=offset, with_payload=False, with_vectors=False)
        return [r.id for r in records], offset

    def _engine_facet(self, key: str, flt: SearchFilter | None) -> dict[str, int]:
        response = self._client.facet(self.collection, key, facet_filter=self._filter(flt), limit=FACET_LIMIT,
                                      exact=True)
        return {str(h.value): int(h.count) for h in response.hits}

    def _engine_flush(self) -> None:
        """Writes already waited for the server (wait=True) and local mode persists each one: nothing to do."""

    def _engine_close(self) -> None:
        # Closing only drops HTTP connections or the local lock; a dead server must not fail shutdown.
        with suppress(Exception):
            self._client.close()
