"""The ONNX int8 embedding backend: same vectors as torch within quantization error, same search results."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from app.search.retriever import Retriever
from app.settings import load_settings
from indexer.chunking import chunk_file
from indexer.embedding.dense import (
    EmbeddingError,
    OnnxEmbedder,
    default_model_path,
    embedder_for,
    embedder_identity,
    load_embedder,
    resolve_backend,
)
from indexer.pipeline.run import Indexer, embedding_text
from indexer.reader import IndexReader
from indexer.settings import EmbeddingSettings, RepoConfig
from tests.conftest import EXAMPLE_SHOP, ROOT


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory) -> Path:
    # The same folder the `home` fixture points DAYONE_EMBEDDING__CACHE_DIR at: one export per session.
    return tmp_path_factory.getbasetemp() / "onnx-models"


@pytest.fixture(scope="session")
def onnx_embedder(onnx_cache):
    return load_embedder(None, backend="onnx", quantize=True, cache_dir=onnx_cache)


def _real_chunk_texts(embedder) -> list[str]:
    """What the pipeline embeds for the example shop and for this project's own indexer code."""
    files = [p for p in sorted(EXAMPLE_SHOP.rglob("*")) if p.is_file() and ".git" not in p.parts]
    files += sorted((ROOT / "indexer").glob("*.py"))[:6]
    texts = []
    for f in files:
        rel = str(f.relative_to(f.parents[1] if f.is_relative_to(EXAMPLE_SHOP) else ROOT))
        result = chunk_file(rel, f.read_bytes(), count_tokens=embedder.count_tokens)
        texts += [embedding_text(c) for c in result.chunks]
    return texts


def test_onnx_int8_vectors_match_torch_on_real_chunks(embedder, onnx_embedder):
    texts = _real_chunk_texts(embedder)
    assert len(texts) > 100
    assert any(embedder.count_tokens(t) >= 200 for t in texts), "long, padded batches must be covered"
    ours = onnx_embedder.embed_documents(texts)
    ref = embedder.embed_documents(texts)
    assert ours.shape == ref.shape == (len(texts), 384)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)
    cosines = (ours * ref).sum(axis=1)
    # Per-tensor int8 scales gave a minimum of 0.91 on such texts; per-channel weight scales give 0.99.
    assert cosines.min() > 0.98, f"worst cosine {cosines.min():.4f}"
    assert cosines.mean() > 0.99
    # Order within a call must not matter: int8 activation scales are per batch, so the batches must not change.
    again = onnx_embedder.embed_documents(texts[::-1])[::-1]
    assert np.allclose(again, ours, atol=1e-5)
    assert onnx_embedder.embed_documents([]).shape == (0, 384)
    # Chunk boundaries depend on token counts: both backends must count alike.
    assert [onnx_embedder.count_tokens(t) for t in texts] == [embedder.count_tokens(t) for t in texts]


def _search_top(settings, embedder, query: str, k: int = 10) -> list[tuple[str, str]]:
    with IndexReader(settings) as reader:
        return [(h.path, h.symbol) for h in Retriever(reader, embedder, settings.search).search(query, k=k)]


def test_index_and_search_with_onnx_finds_the_right_function(home, embedder, monkeypatch):
    settings = load_settings()
    assert resolve_backend(settings.embedding) == "onnx"  # the default on a machine without a GPU
    indexer = Indexer(settings)
    indexer.run([RepoConfig(name="shop", path=str(EXAMPLE_SHOP))])
    assert indexer.embedder.model_id.endswith("+onnx-int8")
    with IndexReader(settings) as reader:
        assert "onnx-int8" in reader.manifest.get_info("build_key")
    onnx = embedder_for(settings)
    assert _search_top(settings, onnx, "where are orders paid")[0] == ("api/orders.py",
                                                                        "api.orders.OrderService.pay")
    # The same example indexed and searched with torch fp32 gives nearly the same top ten.
    monkeypatch.setenv("DAYONE_HOME", str(home.parent / "home-torch"))
    monkeypatch.setenv("DAYONE_EMBEDDING__BACKEND", "torch")
    torch_settings = load_settings()
    Indexer(torch_settings, embedder=embedder).run([RepoConfig(name="shop", path=str(EXAMPLE_SHOP))])
    for query in ("send the order confirmation email", "where are orders paid", "database schema for products"):
        onnx_top = _search_top(settings, onnx, query)
        torch_top = _search_top(torch_settings, embedder, query)
        # int8 moves scores by ~1e-4: a near tie at the top may swap ("database schema for products" puts
        # db/schema.sql and OrderService.create_order 9e-5 apart), so each backend's first is the other's first two
        assert onnx_top[0] in torch_top[:2] and torch_top[0] in onnx_top[:2], (query, onnx_top[:3], torch_top[:3])
        assert len(set(onnx_top) & set(torch_top)) >= 8, (query, onnx_top, torch_top)


def test_backend_is_part_of_the_build_key_and_a_switch_rebuilds(home, embedder, monkeypatch):
    settings = load_settings()
    onnx_id = embedder_identity(settings)
    settings.embedding.quantize = False
    fp32_id = embedder_identity(settings)
    settings.embedding.backend = "torch"
    torch_id = embedder_identity(settings)
    assert len({onnx_id, fp32_id, torch_id}) == 3
    assert torch_id == embedder.model_id and onnx_id == torch_id + "+onnx-int8"

    cfg = RepoConfig(name="shop", path=str(EXAMPLE_SHOP))
    Indexer(load_settings()).run([cfg])
    monkeypatch.setenv("DAYONE_EMBEDDING__BACKEND", "torch")
    rebuilt = Indexer(load_settings(), embedder=embedder).run([cfg])
    assert rebuilt.chunks_embedded > 0
    reason = rebuilt.full_rebuild_reason or ""
    assert "embedding model changed" in reason and "+onnx-int8 ->" in reason, reason


def test_auto_backend_is_torch_on_a_gpu_and_onnx_on_cpu():
    # No GPU exists here: an explicit cuda device stands in for one (resolution reads only the settings).
    assert resolve_backend(EmbeddingSettings(device="cuda")) == "torch"
    assert resolve_backend(EmbeddingSettings(device="mps")) == "torch"
    assert resolve_backend(EmbeddingSettings(device="cpu")) == "onnx"
    assert resolve_backend(EmbeddingSettings(backend="torch", device="cpu")) == "torch"
    assert resolve_backend(EmbeddingSettings(backend="onnx", device="cuda")) == "onnx"


def test_export_is_cached_once_per_model_and_onnxruntime_version(onnx_embedder, onnx_cache):
    import onnxruntime

    # The cache is the session's: other tests' models (a tuned embedder) have their own folders beside this one.
    model = onnx_embedder.model_id.split("+")[0]
    folders = [f for f in onnx_cache.iterdir() if f.name.startswith(f"{model}-")]
    assert [f.name for f in folders] == [f"{model}-ort{onnxruntime.__version__}"]
    int8 = folders[0] / "model_int8.onnx"
    stamp = int8.stat().st_mtime_ns
    # int8 matrices; the word-embedding table (a Gather, 47 MB) stays fp32
    assert int8.stat().st_size < (folders[0] / "model.onnx").stat().st_size * 0.7
    OnnxEmbedder(None, cache_dir=onnx_cache, quantize=True)
    assert int8.stat().st_mtime_ns == stamp, "a cached export must be reused, not redone"
    assert not [p for p in folders[0].iterdir() if p.name.startswith("tmp")], "no half-written files left"


def test_bad_model_folder_and_corrupt_cache_give_one_line_errors(tmp_path, onnx_cache):
    no_tok = tmp_path / "model"
    shutil.copytree(default_model_path(), no_tok)
    (no_tok / "tokenizer.json").unlink()
    with pytest.raises(EmbeddingError, match="no tokenizer.json") as err:
        OnnxEmbedder(no_tok, cache_dir=tmp_path / "cache")
    assert "\n" not in str(err.value)

    broken_cache = tmp_path / "broken"
    shutil.copytree(onnx_cache, broken_cache)
    # The session cache may also hold a tuned embedder's export: break the default model's.
    target = next(p for p in broken_cache.glob("*/model_int8.onnx") if not p.parent.name.startswith("tuned-"))
    target.write_bytes(b"not an onnx file")
    with pytest.raises(EmbeddingError, match="cannot load .*model_int8.onnx") as err:
        OnnxEmbedder(None, cache_dir=broken_cache)
    assert "\n" not in str(err.value)
    assert os.path.exists(target)  # nothing deleted behind the operator's back
