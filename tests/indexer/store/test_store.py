"""One suite, every engine: the search layer must not be able to tell EdgeStore from QdrantClientStore.

Set DAYONE_TEST_QDRANT_URL (e.g. http://localhost:6333) to run the same tests against a real server.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from indexer.settings import StoreSettings
from indexer.store import (
    RRF_K,
    EdgeStore,
    Point,
    QdrantClientStore,
    SearchFilter,
    Store,
    StoreError,
    open_store,
)

DIM = 8
SERVER_URL = os.environ.get("DAYONE_TEST_QDRANT_URL", "")
COMMON_TERM = 1  # in every document: IDF close to zero
REPO_ROOT = Path(__file__).resolve().parents[3]


def pid(n: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"dayone-test/{n}"))


def unit(v: list[float]) -> list[float]:
    a = np.asarray(v, dtype=np.float64)
    return (a / np.linalg.norm(a)).tolist()


def corpus() -> list[Point]:
    """12 chunks over 2 repos x 2 languages x 2 kinds; each has its own direction and one rare term."""
    points = []
    for i in range(12):
        dense = [0.0] * DIM
        dense[i % DIM] = 1.0
        dense[(i + 1) % DIM] = 0.05 * (i + 1)
        repo = "alpha" if i < 6 else "beta"
        language = "python" if i % 2 == 0 else "go"
        kind = "function" if i % 3 else "class"
        path = f"src/{repo}/m{i // 4}.{'py' if language == 'python' else 'go'}"
        points.append(
            Point(
                id=pid(i),
                dense=unit(dense),
                sparse_indices=[COMMON_TERM, 100 + i],
                sparse_values=[1.0, 1.0],
                payload={
                    "repo": repo,
                    "commit": "c0ffee",
                    "path": path,
                    "start_line": i * 10 + 1,
                    "end_line": i * 10 + 9,
                    "language": language,
                    "kind": kind,
                    "symbol": f"pkg.f{i}",
                    "name": f"f{i}",
                    "signature": f"def f{i}():",
                    "text": f"def f{i}():\n    return {i}\n",
                    "part": 1,
                    "parts": 1,
                },
            )
        )
    return points


Factory = Callable[[], Store]


@pytest.fixture(params=["edge", "client-local", "client-server"])
def open_store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Factory]:
    """Opens (and reopens) a store of one kind on one location; all it opened is closed at the end."""
    kind = request.param
    if kind == "client-server" and not SERVER_URL:
        pytest.skip("set DAYONE_TEST_QDRANT_URL to run the suite against a Qdrant server")
    collection = f"dayone_test_{uuid.uuid4().hex[:10]}"
    opened: list[Store] = []

    def factory() -> Store:
        if kind == "edge":
            store: Store = EdgeStore(tmp_path / "edge")
        elif kind == "client-local":
            store = QdrantClientStore(path=tmp_path / "local", collection=collection)
        else:
            store = QdrantClientStore(url=SERVER_URL, collection=collection)
        opened.append(store)
        return store

    factory.kind = kind  # type: ignore[attr-defined]
    yield factory
    for store in opened:
        store.close()
    if kind == "client-server":
        from qdrant_client import QdrantClient

        QdrantClient(url=SERVER_URL).delete_collection(collection)


@pytest.fixture
def store(open_store_factory: Factory) -> Store:
    s = open_store_factory()
    s.ensure_schema(DIM)
    return s


@pytest.fixture
def loaded(store: Store) -> Store:
    store.upsert(corpus())
    store.flush()
    return store


def ids_of(hits: list) -> list[str]:
    return [h.id for h in hits]


# -- schema


def test_schema_created_once_and_dim_mismatch_refused(open_store_factory: Factory) -> None:
    s = open_store_factory()
    assert s.dim() is None
    with pytest.raises(StoreError, match="run indexing first"):
        s.count()
    s.flush()  # nothing to persist yet: not an error
    s.ensure_schema(DIM)
    s.ensure_schema(DIM)  # idempotent
    assert s.dim() == DIM and s.count() == 0
    with pytest.raises(StoreError, match=f"{DIM}-dim.*{DIM * 2}-dim"):
        s.ensure_schema(DIM * 2)
    s.close()
    again = open_store_factory()
    assert again.dim() == DIM
    with pytest.raises(StoreError, match="rebuild the index"):
        again.ensure_schema(DIM + 1)


# -- writes


def test_upsert_retrieve_roundtrip(store: Store) -> None:
    points = corpus()
    store.upsert(points)
    got = store.retrieve([pid(3), pid(0), str(uuid.uuid4()), pid(3)])
    assert ids_of(got) == [pid(3), pid(0)]  # asked order, unknown id skipped, duplicate once
    assert got[0].payload == points[3].payload
    assert got[1].payload == points[0].payload
    # Upsert of an existing id replaces its payload instead of adding a point.
    changed = Point(pid(3), points[3].dense, [COMMON_TERM], [1.0], {**points[3].payload, "name": "renamed"})
    store.upsert([changed])
    assert store.count() == 12
    assert store.retrieve([pid(3)])[0].payload["name"] == "renamed"


def test_ids_are_canonical_uuid_strings(store: Store) -> None:
    p = corpus()[0]
    p.id = p.id.upper()
    store.upsert([p])
    assert ids_of(store.retrieve([pid(0)])) == [pid(0)]
    assert list(store.iter_ids()) == [pid(0)]
    with pytest.raises(StoreError, match="not a UUID"):
        store.upsert([Point("chunk-1", p.dense, [], [], {})])


def test_numpy_vectors_accepted(store: Store) -> None:
    p = corpus()[5]
    p.dense = np.asarray(p.dense, dtype=np.float32)
    store.upsert([p])
    assert ids_of(store.dense_search(np.asarray(p.dense), 1)) == [pid(5)]


def test_delete_by_ids(loaded: Store) -> None:
    loaded.delete([pid(0), pid(1), str(uuid.uuid4())])
    assert loaded.count() == 10
    assert loaded.retrieve([pid(0), pid(1), pid(2)])[0].id == pid(2)
    assert pid(0) not in ids_of(loaded.dense_search(corpus()[0].dense, 12))


def test_delete_where_repo(loaded: Store) -> None:
    loaded.delete_where(SearchFilter(repos=["alpha"]))
    assert loaded.count() == 6
    assert loaded.facet_counts("repo") == {"beta": 6}
    loaded.delete_where(SearchFilter(repos=[]))  # an empty allow-list deletes nothing
    assert loaded.count() == 6
    loaded.delete_where(SearchFilter())  # no restriction: everything goes, the schema stays
    assert loaded.count() == 0 and loaded.dim() == DIM
    loaded.upsert(corpus()[:1])
    assert loaded.count() == 1


def test_deletes_before_any_index_are_no_ops(open_store_factory: Factory) -> None:
    s = open_store_factory()
    s.delete([pid(1)])
    s.delete_where(SearchFilter())
    assert s.dim() is None


# -- search


def test_dense_search_ranks_nearest_first(loaded: Store) -> None:
    target = corpus()[7].dense
    hits = loaded.dense_search(target, 5)
    assert hits[0].id == pid(7)
    assert hits[0].score == pytest.approx(1.0, abs=1e-4)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert hits[0].payload["symbol"] == "pkg.f7"


def test_sparse_search_uses_idf(loaded: Store) -> None:
    # Without IDF the common term's larger weight would win; with IDF the rare term (one document) does.
    hits = loaded.sparse_search([COMMON_TERM, 104], [3.0, 1.0], 3)
    assert hits[0].id == pid(4)
    assert hits[0].score > 2 * hits[1].score
    assert loaded.sparse_search([], [], 3) == []
    assert loaded.sparse_search([999_999], [1.0], 3) == []


def test_hybrid_is_rrf_of_dense_and_sparse(loaded: Store) -> None:
    vector = corpus()[2].dense  # dense favours chunk 2 (then 3, its neighbour direction)
    indices, values = [105], [1.0]  # sparse finds only chunk 5
    dense = loaded.dense_search(vector, 12)
    sparse = loaded.sparse_search(indices, values, 12)
    expected: dict[str, float] = {}
    for ranking in (dense, sparse):
        for rank, hit in enumerate(ranking):
            expected[hit.id] = expected.get(hit.id, 0.0) + 1.0 / (RRF_K + rank)
    hits = loaded.hybrid_search(vector, indices, values, 12, prefetch=12)
    assert {h.id for h in hits} == set(expected)  # the union of both lists
    for h in hits:
        assert h.score == pytest.approx(expected[h.id], rel=1e-4)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    top2 = ids_of(hits[:2])
    assert set(top2) == {pid(2), pid(5)}  # first place in each list ties
    assert hits[0].payload["repo"] in {"alpha", "beta"}
    # Without sparse terms the dense list alone is fused.
    assert ids_of(loaded.hybrid_search(vector, [], [], 3))[0] == pid(2)


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (SearchFilter(repos=["beta"]), {6, 7, 8, 9, 10, 11}),
        (SearchFilter(languages=["go"]), {1, 3, 5, 7, 9, 11}),
        (SearchFilter(kinds=["class"]), {0, 3, 6, 9}),
        (SearchFilter(paths=["src/alpha/m0.py", "src/beta/m2.go"]), {0, 2, 9, 11}),
        (SearchFilter(repos=["alpha", "beta"], languages=["python"], kinds=["function"]), {2, 4, 8, 10}),
        (SearchFilter(repos=["beta"], languages=["go"], kinds=["class"], paths=["src/beta/m2.go"]), {9}),
        (SearchFilter(repos=[]), set()),
        (SearchFilter(repos=["nope"]), set()),
    ],
)
def test_filters_apply_in_every_query(loaded: Store, flt: SearchFilter, expected: set[int]) -> None:
    want = {pid(i) for i in expected}
    vector = corpus()[0].dense
    assert {h.id for h in loaded.dense_search(vector, 12, flt)} == want
    assert {h.id for h in loaded.sparse_search([COMMON_TERM], [1.0], 12, flt)} == want
    assert {h.id for h in loaded.hybrid_search(vector, [COMMON_TERM], [1.0], 12, flt, prefetch=12)} == want
    assert loaded.count(flt) == len(want)
    assert set(loaded.iter_ids(flt)) == want
    # The filter reaches the prefetch stage: with a prefetch of 2 a post-filter would come back short.
    few = loaded.hybrid_search(vector, [COMMON_TERM], [1.0], 2, flt, prefetch=2)
    assert {h.id for h in few} <= want and len(few) == min(2, len(want))
    assert len(loaded.dense_search(vector, 1, flt)) == min(1, len(want))


def test_count_iter_ids_facets(loaded: Store) -> None:
    assert loaded.count() == 12
    assert sorted(loaded.iter_ids()) == sorted(pid(i) for i in range(12))
    assert loaded.facet_counts("repo") == {"alpha": 6, "beta": 6}
    assert loaded.facet_counts("kind") == {"class": 4, "function": 8}
    assert loaded.facet_counts("language", SearchFilter(repos=["alpha"], kinds=["class"])) == {
        "python": 1,
        "go": 1,
    }
    assert loaded.facet_counts("repo", SearchFilter(languages=[])) == {}


def test_iter_ids_pages_through_many_points(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(type(store), "page_size", 7)  # several pages without a slow bulk load
    base = corpus()[0]
    store.upsert([Point(pid(1000 + i), base.dense, [], [], {"repo": "r"}) for i in range(40)])
    ids = list(store.iter_ids())
    assert len(ids) == len(set(ids)) == 40
    store.delete(ids)  # deletes page by page too
    assert store.count() == 0


# -- lifecycle


def test_reopen_after_close_keeps_data(open_store_factory: Factory) -> None:
    with open_store_factory() as s:
        s.ensure_schema(DIM)
        s.upsert(corpus())
    s.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        s.count()
    again = open_store_factory()
    assert again.dim() == DIM and again.count() == 12
    assert again.retrieve([pid(4)])[0].payload["symbol"] == "pkg.f4"
    assert again.dense_search(corpus()[4].dense, 1)[0].id == pid(4)
    assert again.sparse_search([104], [1.0], 1)[0].id == pid(4)


def test_second_open_of_locked_directory_fails(open_store_factory: Factory) -> None:
    if open_store_factory.kind == "client-server":  # type: ignore[attr-defined]
        pytest.skip("a server is shared by design")
    first = open_store_factory()
    first.ensure_schema(DIM)
    with pytest.raises(StoreError, match="in use by another dayone process") as info:
        open_store_factory()
    assert "\n" not in str(info.value)
    first.close()
    open_store_factory().close()  # the lock goes with close()


def test_edge_lock_held_against_another_process(tmp_path: Path) -> None:
    holder = EdgeStore(tmp_path / "idx")
    holder.ensure_schema(DIM)
    child = textwrap.dedent(f"""
        from pathlib import Path
        from indexer.store import EdgeStore, StoreError
        try:
            EdgeStore(Path({str(tmp_path / "idx")!r}))
        except StoreError as exc:
            print("STORE_ERROR", exc)
    """)
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    holder.close()
    assert "STORE_ERROR index at" in out.stdout and "in use by another dayone process" in out.stdout, out.stderr
    assert "panic" not in out.stderr.lower()


def test_unreachable_server_fails_fast_in_one_line() -> None:
    start = time.monotonic()
    with pytest.raises(StoreError, match=r"^Qdrant server at http://127\.0\.0\.1:1 is unreachable") as info:
        QdrantClientStore(url="http://127.0.0.1:1")
    assert time.monotonic() - start < 5
    assert "\n" not in str(info.value)


def test_open_store_picks_engine(tmp_path: Path) -> None:
    with open_store(StoreSettings(), tmp_path / "index") as s:
        assert isinstance(s, EdgeStore)
    with pytest.raises(StoreError, match="unreachable"):
        open_store(StoreSettings(qdrant_url="http://127.0.0.1:1"), tmp_path / "index")


def test_edge_refuses_a_foreign_shard_and_releases_it(tmp_path: Path) -> None:
    from qdrant_edge import Distance, EdgeConfig, EdgeShard, EdgeVectorParams

    EdgeShard.create(
        str(tmp_path / "x"), EdgeConfig(vectors={"other": EdgeVectorParams(size=4, distance=Distance.Dot)})
    ).close()
    with pytest.raises(StoreError, match="not created by dayone"):
        EdgeStore(tmp_path / "x")
    EdgeShard.load(str(tmp_path / "x")).close()  # the failed open left no lock behind
