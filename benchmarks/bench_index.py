"""Index benchmark on a real repository (Django 5.1 from its PyPI sdist): prints numbers, asserts nothing.

    python benchmarks/bench_index.py all [--repo PATH] [--li-subset django/db] [--raw-sample 3000]

Phases, each in its own process so peak RSS is per phase:
  ours        full index (parse+chunk, embed, store split), no-op reindex, one-file-change reindex,
              search latency p50/p95 over 40 queries, peak RSS
  raw         the embedding model's raw throughput (the configured backend's embed_documents, one call) on a
              random sample of our own chunk texts: the ceiling on this CPU
  llamaindex  the plain llama-index pipeline: SimpleDirectoryReader + CodeSplitter + HuggingFaceEmbedding (same
              model) + QdrantVectorStore in qdrant-client local mode (on a subset: it is slow)
  compare     ours (onnx int8 and torch fp32 embedding) and the llama-index pipeline on the same subset, interleaved
              over several rounds in fresh processes (the machine is shared: interleaving spreads the noise over
              all three); model load excluded from every timing, ONNX export cached before the first round

    python benchmarks/bench_index.py compare [--li-subset django/db/migrations] [--rounds 3]
        [--variants onnx-int8,torch,llamaindex] [--py-only] [--li-batch 10]

On a CUDA machine torch and llama-index's HuggingFaceEmbedding both run on the GPU; `llamaindex-b64` is the
baseline with a batch of 64 instead of its default 10, so a GPU comparison is not won on a small default batch.

Results go to stdout as JSON lines and a table; docs/benchmarks.md keeps them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench-data"
QUERIES = [
    "where is the database connection opened", "how are migrations applied", "QuerySet.filter",
    "where are CSRF tokens checked", "how does the template engine render a variable",
    "password hashing algorithm", "get_user_model", "where are URL patterns resolved",
    "send email with attachments", "how are signals dispatched to receivers", "cache middleware",
    "validate an email address", "ForeignKey on_delete cascade", "paginate a list of objects",
    "session expiry", "where is the request body parsed", "runserver autoreload", "slugify",
    "translate a string lazily", "select_related join generation", "how are form fields cleaned",
    "admin list display", "static files storage hashed names", "transaction atomic savepoint",
    "timezone aware datetime conversion", "where are HTTP 404 responses created",
    "compile a regex for path converters", "sqlite database features", "serialize a model to json",
    "how does the ORM build a WHERE clause", "file upload handler memory", "login required decorator",
    "content types framework", "sitemaps generation", "message framework storage", "GeoDjango distance",
    "how is SECRET_KEY used for signing", "test client follow redirects", "management command arguments",
    "prefetch_related_objects",
]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ensure_django(version: str = "5.1") -> Path:
    target = DATA / f"Django-{version}"
    if target.is_dir():
        return target
    DATA.mkdir(exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-binary", ":all:", "--no-deps",
                    f"django=={version}", "-d", str(DATA)], check=True)
    sdist = next(DATA.glob(f"[Dd]jango-{version}.tar.gz"))
    with tarfile.open(sdist) as tar:
        tar.extractall(DATA, filter="data")
    return target


def git_copy(src: Path, dst: Path) -> Path:
    """A company repository is a git repository: commit the sdist's files so sources read them from git
    (a plain folder where git is missing, as on a bare GPU machine: dayone indexes both)."""
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    if shutil.which("git") is None:
        return dst
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@x", "GIT_COMMITTER_NAME": "b",
           "GIT_COMMITTER_EMAIL": "b@x"}
    for args in (["init", "-q", "-b", "main"], ["add", "-A", "-f"], ["commit", "-q", "-m", "import"]):
        subprocess.run(["git", *args], cwd=dst, env=env, check=True)
    return dst


def phase_ours(repo: Path, work: Path) -> dict:
    os.environ["DAYONE_HOME"] = str(work / "home")
    from app.search.retriever import Retriever
    from app.settings import load_settings
    from indexer.pipeline.run import Indexer
    from indexer.reader import IndexReader
    from indexer.settings import RepoConfig

    settings = load_settings()
    cfg = RepoConfig(name="django", path=str(repo))
    t0 = time.perf_counter()
    indexer = Indexer(settings)
    _ = indexer.embedder  # model load reported separately
    load_s = time.perf_counter() - t0
    first = indexer.run([cfg])
    rr = first.repos[0]
    out = {"phase": "ours", "files": rr.files, "chunks": rr.chunks_total, "skipped": dict(rr.skipped),
           "model_load_s": round(load_s, 2), "total_s": round(first.seconds, 1),
           "parse_chunk_s": round(first.parse_seconds, 1), "embed_s": round(first.embed_seconds, 1),
           "store_s": round(first.store_seconds, 1),
           "chunks_per_s": round(first.chunks_embedded / first.seconds, 1)}
    with IndexReader(settings) as reader:
        indexed = [p for p, e in reader.manifest.files("django").items() if e.status == "indexed"]
    out["source_kb_per_s"] = round(sum((repo / p).stat().st_size for p in indexed) / 1024 / first.seconds, 1)
    t0 = time.perf_counter()
    noop = Indexer(settings).run([cfg])
    out["noop_s"] = round(time.perf_counter() - t0, 3)
    assert noop.repos[0].up_to_date
    victim = repo / "django" / "utils" / "text.py"
    if not victim.is_file():
        victim = sorted(repo.rglob("*.py"))[0]
    victim.write_text(victim.read_text() + "\n\ndef bench_added():\n    return 'changed'\n")
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@x", "GIT_COMMITTER_NAME": "b",
           "GIT_COMMITTER_EMAIL": "b@x"}
    subprocess.run(["git", "commit", "-q", "-am", "change"], cwd=repo, env=env, check=True)
    t0 = time.perf_counter()
    one = Indexer(settings, embedder=indexer.embedder).run([cfg])
    out["one_file_change_s"] = round(time.perf_counter() - t0, 2)
    out["one_file_change_chunks"] = one.chunks_embedded
    with IndexReader(settings) as reader:
        retriever = Retriever(reader, indexer.embedder, settings.search)
        retriever.search("warm up")
        times = []
        for q in QUERIES:
            t0 = time.perf_counter()
            retriever.search(q)
            times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    out["search_p50_ms"] = round(statistics.median(times), 1)
    out["search_p95_ms"] = round(times[int(0.95 * (len(times) - 1))], 1)
    out["index_dir_mb"] = round(sum(f.stat().st_size for f in (work / "home").rglob("*") if f.is_file()) / 2**20)
    out["peak_rss_mb"] = round(rss_mb())
    return out


def phase_raw(repo: Path, sample: int) -> dict:
    from app.settings import load_settings
    from indexer.chunking import chunk_file
    from indexer.embedding.dense import embedder_for
    from indexer.pipeline.run import embedding_text, sniff_content
    from indexer.settings import RepoConfig
    from indexer.sources import open_snapshot

    emb = embedder_for(load_settings())  # the backend the index uses (auto: int8 ONNX on CPU, torch on a GPU)
    texts = []
    with open_snapshot(RepoConfig(name="django", path=str(repo)), cache_dir=Path(tempfile.mkdtemp()),
                       max_file_bytes=1024 * 1024) as snap:
        for f in snap.files:
            data = snap.read(f.path)
            if sniff_content(data):
                continue
            texts += [embedding_text(c) for c in chunk_file(f.path, data, count_tokens=emb.count_tokens).chunks]
    random.Random(7).shuffle(texts)
    texts = texts[:sample]
    emb.embed_documents(texts[:64])
    t0 = time.perf_counter()
    emb.embed_documents(texts)
    secs = time.perf_counter() - t0
    return {"phase": "raw", "model": emb.model_id, "sample": len(texts), "seconds": round(secs, 1),
            "chunks_per_s": round(len(texts) / secs, 1), "peak_rss_mb": round(rss_mb())}


def phase_llamaindex(repo: Path, subset: str, work: Path, batch: int = 10) -> dict:
    from llama_index.core import Settings as LISettings
    from llama_index.core import SimpleDirectoryReader, StorageContext, VectorStoreIndex
    from llama_index.core.node_parser import CodeSplitter
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.vector_stores.qdrant import QdrantVectorStore
    from qdrant_client import QdrantClient

    from app.settings import load_settings
    from indexer.embedding.dense import settings_model_path

    LISettings.llm = None
    device = "cuda" if _cuda() else "cpu"
    embed = HuggingFaceEmbedding(model_name=str(settings_model_path(load_settings())), device=device,
                                 embed_batch_size=batch)
    LISettings.embed_model = embed
    t0 = time.perf_counter()
    docs = SimpleDirectoryReader(str(repo / subset), recursive=True, required_exts=[".py"]).load_data()
    from indexer.chunking.languages import get_parser  # tree-sitter-language-pack 1.x downloads grammars: pass ours

    splitter = CodeSplitter(language="python", parser=get_parser("python"))
    nodes = splitter.get_nodes_from_documents(docs)
    parse_s = time.perf_counter() - t0
    client = QdrantClient(path=str(work / f"li-qdrant-{time.monotonic_ns()}"))
    store = QdrantVectorStore(client=client, collection_name="li")
    t1 = time.perf_counter()
    VectorStoreIndex(nodes, storage_context=StorageContext.from_defaults(vector_store=store))
    embed_store_s = time.perf_counter() - t1
    total = time.perf_counter() - t0
    kb = sum(len(d.text.encode()) for d in docs) / 1024
    name = "llamaindex" if batch == 10 else f"llamaindex-b{batch}"
    return {"phase": name, "device": device, "subset": subset, "files": len(docs), "chunks": len(nodes),
            "source_kb_per_s": round(kb / total, 2),
            "parse_s": round(parse_s, 1), "embed_store_s": round(embed_store_s, 1), "total_s": round(total, 1),
            "chunks_per_s": round(len(nodes) / total, 2), "peak_rss_mb": round(rss_mb())}


def subset_repo(src: Path, subset: str, dst: Path) -> Path:
    """A git repository holding only `subset`, at the same relative path, so chunk headers match a full index."""
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src / subset, dst / subset)
    return git_copy(dst, dst.with_name(dst.name + "-git"))


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def phase_ours_only(repo: Path, work: Path, backend: str, py_only: bool = False) -> dict:
    """One fresh full index of `repo` with the given embedding backend; model load excluded, like llama-index."""
    home = work / f"home-{backend}-{time.monotonic_ns()}"
    os.environ["DAYONE_HOME"] = str(home)
    os.environ["DAYONE_EMBEDDING__BACKEND"] = "torch" if backend == "torch" else "onnx"
    os.environ["DAYONE_EMBEDDING__QUANTIZE"] = "false" if backend == "onnx-fp32" else "true"
    os.environ["DAYONE_EMBEDDING__CACHE_DIR"] = str(work / "models")
    from app.settings import load_settings
    from indexer.pipeline.run import Indexer
    from indexer.reader import IndexReader
    from indexer.settings import RepoConfig

    settings = load_settings()
    cfg = RepoConfig(name="bench", path=str(repo), include=["**/*.py"] if py_only else [])
    indexer = Indexer(settings)
    _ = indexer.embedder
    if backend == "prepare":
        return {"phase": "prepare", "model": indexer.embedder.model_id}
    result = indexer.run([cfg])
    with IndexReader(settings) as reader:
        indexed = [p for p, e in reader.manifest.files("bench").items() if e.status == "indexed"]
    kb = sum((repo / p).stat().st_size for p in indexed) / 1024
    shutil.rmtree(home, ignore_errors=True)
    device = "cuda" if backend == "torch" and _cuda() else "cpu"
    return {"phase": backend, "device": device, "files": len(indexed), "chunks": result.chunks_embedded,
            "total_s": round(result.seconds, 1), "parse_s": round(result.parse_seconds, 1),
            "embed_s": round(result.embed_seconds, 1), "store_s": round(result.store_seconds, 1),
            "chunks_per_s": round(result.chunks_embedded / result.seconds, 2),
            "source_kb_per_s": round(kb / result.seconds, 2), "peak_rss_mb": round(rss_mb())}


def phase_compare(repo: Path, subset: str, work: Path, rounds: int, variants: list[str] | None = None,
                  py_only: bool = False) -> None:
    sub = subset_repo(repo, subset, work / "subset")
    variants = variants or ["onnx-int8", "torch", "llamaindex"]
    if "onnx-int8" in variants:  # export and quantize once, outside the timings (an install pays this once, ~10 s)
        subprocess.run([sys.executable, __file__, "one", "--variant", "prepare", "--repo", str(sub),
                        "--work", str(work)], check=True, capture_output=True)
    runs: dict[str, list[dict]] = {v: [] for v in variants}
    for r in range(rounds):
        order = variants[r % len(variants):] + variants[: r % len(variants)]  # rotate: no variant always first
        for v in order:
            load = os.getloadavg()[0]
            cmd = [sys.executable, __file__, "one", "--variant", v, "--repo", str(sub), "--work", str(work),
                   "--li-subset", subset, *(["--py-only"] if py_only else [])]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:  # say why, and let the other variants still run
                print(f"{v} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}", file=sys.stderr, flush=True)
                variants = [x for x in variants if x != v]
                runs.pop(v, None)
                continue
            row = {**json.loads(proc.stdout.strip().splitlines()[-1]), "round": r + 1, "load1_before": round(load, 1)}
            runs[v].append(row)
            print(json.dumps(row), flush=True)
    med = {v: {k: statistics.median(x[k] for x in rows) for k in ("chunks_per_s", "source_kb_per_s")}
           for v, rows in runs.items()}
    summary: dict = {"subset": subset, "rounds": rounds, "median": med}
    for v in (x for x in variants if not x.startswith("llamaindex")):
        for li in (x for x in variants if x.startswith("llamaindex")):
            summary[f"{v}_vs_{li}_chunks"] = round(med[v]["chunks_per_s"] / med[li]["chunks_per_s"], 2)
            summary[f"{v}_vs_{li}_source_kb"] = round(med[v]["source_kb_per_s"] / med[li]["source_kb_per_s"], 2)
            ratios = [a["source_kb_per_s"] / b["source_kb_per_s"] for a, b in zip(runs[v], runs[li], strict=True)]
            summary[f"{v}_vs_{li}_source_kb_per_round"] = [round(x, 2) for x in ratios]
    if "onnx-int8" in med and "torch" in med:
        summary["onnx_int8_vs_torch_chunks"] = round(med["onnx-int8"]["chunks_per_s"] / med["torch"]["chunks_per_s"],
                                                     2)
    print(json.dumps(summary), flush=True)


QUALITY_QUERIES = {
    "shop": ["where are orders paid", "send the order confirmation email", "reserve stock for an order",
             "database schema for products", "refund a payment", "render the cart in the browser",
             "how does the worker pick up jobs", "list products in a category", "OrderService", "check inventory"],
    "dayone": ["how are files split into symbol chunks", "where is the embedding model loaded",
               "crash-safe index generations", "reciprocal rank fusion of dense and sparse hits",
               "skip binary and minified files", "BM25 tokenizer splits camelCase", "parse dayone.toml settings",
               "command line search json output", "qualified name of a method", "lock the index folder"],
    "migrations": ["how are migrations applied", "detect changes between model states", "AddField operation",
                   "squash migrations", "migration graph dependencies", "rename a model",
                   "serialize a default value for a migration file", "questioner asks for a default",
                   "record applied migrations in the database", "RunPython reverse code"],
}


def phase_quality(repo: Path, work: Path, queries_for: str) -> dict:
    """Torch fp32 against ONNX int8 on one repository: cosine per chunk and overlap of the top ten per query."""
    import numpy as np

    from app.search.retriever import Retriever
    from app.settings import load_settings
    from indexer.embedding.dense import load_embedder
    from indexer.pipeline.run import Indexer, embedding_text, sniff_content
    from indexer.reader import IndexReader
    from indexer.settings import RepoConfig
    from indexer.sources import open_snapshot

    cfg = RepoConfig(name="q", path=str(repo))
    embedders = {"torch": load_embedder(None, device="cpu"),
                 "onnx-int8": load_embedder(None, backend="onnx", cache_dir=work / "models")}
    texts = []
    with open_snapshot(cfg, cache_dir=work / "snap", max_file_bytes=1024 * 1024) as snap:
        from indexer.chunking import chunk_file

        for f in snap.files:
            data = snap.read(f.path)
            if not sniff_content(data):
                texts += [embedding_text(c) for c in chunk_file(f.path, data,
                                                                count_tokens=embedders["torch"].count_tokens).chunks]
    a, b = (e.embed_documents(texts) for e in embedders.values())
    cos = (a * b).sum(axis=1)
    tops: dict[str, dict[str, list]] = {}
    for name, emb in embedders.items():
        home = work / f"quality-{name}-{time.monotonic_ns()}"
        os.environ["DAYONE_HOME"] = str(home)
        settings = load_settings()
        Indexer(settings, embedder=emb).run([cfg])
        with IndexReader(settings) as reader:
            r = Retriever(reader, emb, settings.search)
            for q in QUALITY_QUERIES[queries_for]:
                hybrid = [(h.path, h.symbol, h.start_line) for h in r.search(q, k=10)]
                dense = [h.id for h in reader.store.dense_search(emb.embed_query(q), 10)]
                tops.setdefault(q, {})[name] = [hybrid, dense]
    hyb = [len(set(v["torch"][0]) & set(v["onnx-int8"][0])) / max(1, len(v["torch"][0])) for v in tops.values()]
    den = [len(set(v["torch"][1]) & set(v["onnx-int8"][1])) / 10 for v in tops.values()]
    top1 = [v["torch"][0][:1] == v["onnx-int8"][0][:1] for v in tops.values()]
    return {"phase": "quality", "repo": queries_for, "chunks": len(texts), "cosine_mean": round(float(cos.mean()), 4),
            "cosine_min": round(float(cos.min()), 4), "cosine_p1": round(float(np.percentile(cos, 1)), 4),
            "queries": len(tops), "hybrid_overlap_at_10": round(statistics.mean(hyb), 3),
            "dense_overlap_at_10": round(statistics.mean(den), 3), "same_top1": sum(top1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("phase", choices=["all", "ours", "raw", "llamaindex", "compare", "one", "quality"])
    ap.add_argument("--queries", choices=sorted(QUALITY_QUERIES), default="shop", help="query set for quality")
    ap.add_argument("--variant", choices=["onnx-int8", "onnx-fp32", "torch", "llamaindex", "llamaindex-b64",
                                          "prepare"], default="onnx-int8")
    ap.add_argument("--variants", default="onnx-int8,torch,llamaindex", help="compare: comma-separated variants")
    ap.add_argument("--py-only", action="store_true", help="ours indexes only *.py, as the llama-index baseline reads")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repo", type=Path, help="repository to index (default: Django 5.1 sdist, committed to git)")
    ap.add_argument("--li-subset", default="django/db", help="subfolder for the llama-index baseline")
    ap.add_argument("--raw-sample", type=int, default=3000)
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()
    from indexer.offline import enforce_offline

    enforce_offline()
    work = args.work or Path(tempfile.mkdtemp(prefix="dayone-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.phase == "all":
        repo = args.repo or git_copy(ensure_django(), work / "django")
        results = []
        for phase in ("raw", "ours", "llamaindex"):
            cmd = [sys.executable, __file__, phase, "--repo", str(repo), "--work", str(work),
                   "--li-subset", args.li_subset, "--raw-sample", str(args.raw_sample)]
            line = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
            print(line, flush=True)
            results.append(json.loads(line))
        raw, ours, li = results
        print(json.dumps({
            "ours_vs_raw": round(ours["chunks_per_s"] / raw["chunks_per_s"], 2),
            "ours_vs_llamaindex_chunks": round(ours["chunks_per_s"] / li["chunks_per_s"], 2),
            "ours_vs_llamaindex_source_kb": round(ours["source_kb_per_s"] / li["source_kb_per_s"], 2),
        }))
        return
    if args.phase == "quality":
        print(json.dumps(phase_quality(args.repo or ROOT / "examples" / "shop", work, args.queries)))
        return
    if args.phase == "compare":
        phase_compare(args.repo or ensure_django(), args.li_subset, work, args.rounds,
                      args.variants.split(","), args.py_only)
        return
    if args.phase == "one":
        if args.variant.startswith("llamaindex"):
            batch = int(args.variant.split("-b")[1]) if "-b" in args.variant else 10
            print(json.dumps(phase_llamaindex(args.repo, args.li_subset, work, batch)))
        else:
            print(json.dumps(phase_ours_only(args.repo, work, args.variant, args.py_only)))
        return
    repo = args.repo or git_copy(ensure_django(), work / "django")
    if args.phase == "ours":
        print(json.dumps(phase_ours(repo, work)))
    elif args.phase == "raw":
        print(json.dumps(phase_raw(repo, args.raw_sample)))
    else:
        print(json.dumps(phase_llamaindex(repo, args.li_subset, work)))


if __name__ == "__main__":
    main()
