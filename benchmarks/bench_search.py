"""Search latency at 100k chunks: prints numbers, asserts nothing (results in docs/retrieval.md).

    python benchmarks/bench_search.py [--source-home .dayone] [--chunks 100000] [--queries 60] [--realistic]

Embedding 100k chunks on this CPU would take hours, so the big index is made from a real one (by default the
evaluation's five codebases, `dayone eval` builds it): every chunk of the source index is copied under new
repository names with its real all-MiniLM-L6-v2 vector plus a little noise (so copies do not tie), its real
BM25 terms and its manifest row, until the index holds --chunks chunks. Then `Retriever.search` runs the
evaluation's questions against the whole index and with a one-repository filter, query embedding included,
with the default options, with the hybrid search this work started from, and with the optional signals on.
The first query of a process also builds the in-memory name/path catalog; its time is reported on its own.
`--realistic` times the realistic eval's questions instead (commit texts and bug reports, median 224 characters,
some over 900): the long-question paths (split, file fusion for reports) only run on those.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.evaluation.realistic import load_realistic  # noqa: E402
from app.evaluation.retrieval_eval import load_questions  # noqa: E402
from app.search.retriever import RankingOptions, Retriever  # noqa: E402
from app.settings import load_settings  # noqa: E402
from indexer.catalog.manifest import ChunkRow, FileEntry, Manifest, connect  # noqa: E402
from indexer.embedding import sparse  # noqa: E402
from indexer.embedding.dense import embedder_for  # noqa: E402
from indexer.pipeline.generations import IndexDir  # noqa: E402
from indexer.reader import IndexReader  # noqa: E402
from indexer.store import Point, open_store  # noqa: E402


def build(source_home: Path, target_home: Path, chunks: int) -> None:
    os.environ["DAYONE_HOME"] = str(source_home)
    src_settings = load_settings()
    with IndexReader(src_settings) as reader:
        ids = sorted(reader.manifest.all_chunk_ids())
        shard = reader.store._shard  # noqa: SLF001 - the benchmark needs the stored vectors themselves
        records = []
        for start in range(0, len(ids), 512):
            records += shard.retrieve(ids[start:start + 512], True, True)
        files = {r.name: reader.manifest.files(r.name) for r in reader.manifest.repos()}
    points = []
    for rec in records:
        vec = rec.vector["dense"] if isinstance(rec.vector, dict) else rec.vector
        points.append((str(uuid.UUID(str(rec.id))), list(vec), dict(rec.payload)))
    copies = -(-chunks // len(points))
    print(f"source: {len(points)} chunks; making {copies} copies", file=sys.stderr)
    shutil.rmtree(target_home, ignore_errors=True)
    os.environ["DAYONE_HOME"] = str(target_home)
    settings = load_settings()
    index_dir = IndexDir(settings.index_dir)
    gen = index_dir.new_generation()
    conn = connect(gen.manifest_path)
    manifest = Manifest(conn)
    store = open_store(settings.store, gen.shard_path)
    store.ensure_schema(len(points[0][1]))
    terms = {pid: sparse.encode_document(f"{p['path']} {p['symbol']}\n{p['text']}") for pid, _v, p in points}
    rng = random.Random(7)
    made = 0
    for c in range(copies):
        batch: list[Point] = []
        rows: dict[tuple[str, str], list[ChunkRow]] = {}
        for pid, vec, payload in points:
            if made >= chunks:
                break
            repo = f"{payload['repo']}-{c:02d}"
            noisy = [x + rng.gauss(0, 0.01) for x in vec]
            norm = sum(x * x for x in noisy) ** 0.5
            new_id = str(uuid.uuid5(uuid.UUID(pid), str(c)))
            idx, val = terms[pid]
            batch.append(Point(new_id, [x / norm for x in noisy], idx, val, {**payload, "repo": repo}))
            rows.setdefault((repo, payload["path"]), []).append(ChunkRow(
                new_id, repo, payload["path"], payload.get("symbol", ""), payload.get("name", ""),
                payload.get("kind", ""), payload.get("language", ""), int(payload["start_line"]),
                int(payload["end_line"])))
            made += 1
        store.upsert(batch)
        for (repo, path), chunk_rows in rows.items():
            entry = files.get(repo.rsplit("-", 1)[0], {}).get(path) or FileEntry(path, "0", "text", "indexed")
            manifest.add_file(repo, entry, chunk_rows)
        for repo in {r for r, _p in rows}:
            manifest.set_repo(repo, source="bench", config={"name": repo, "path": "/nonexistent"}, branch=None,
                              commit=None, skipped={})
        conn.commit()
    store.flush()
    store.close()
    conn.close()
    index_dir.publish(gen)
    print(f"built {made} chunks in {target_home}", file=sys.stderr)


def _stats(out: dict, label: str, wall: list[float], cpu: list[float]) -> None:
    """Wall time depends on what else the machine runs; CPU time (all threads of this process) much less."""
    for name, xs in (("wall", sorted(wall)), ("cpu", sorted(cpu))):
        out[f"{label}: {name} p50 ms"] = round(statistics.median(xs), 1)
        out[f"{label}: {name} p95 ms"] = round(xs[int(0.95 * (len(xs) - 1))], 1)


def measure(target_home: Path, queries: list[str], prefix: str) -> dict:
    os.environ["DAYONE_HOME"] = str(target_home)
    settings = load_settings()
    embedder = embedder_for(settings)  # what `dayone search` uses: int8 ONNX on a CPU
    embedder.embed_query("warm up")
    out: dict = {}
    with IndexReader(settings) as reader:
        out["chunks"] = reader.store.count()
        names = sorted(r.name for r in reader.manifest.repos())
        repo = next((n for n in names if n.startswith(prefix)), names[0])  # one copy of one source repository
        out["one repository"] = repo
        # One untimed pass first: the first system measured would otherwise pay for reading the store's files
        # into the page cache (37.6 ms p50 for the first configuration against 21 ms interleaved).
        warm = Retriever(reader, embedder, settings.search)
        for q in queries:
            warm.search(q, k=10)
        for label, options in (("default", RankingOptions()),
                               ("before issue 13", RankingOptions(split=False, titles=False, reports=False,
                                                                  report_files=False)),
                               ("before", RankingOptions(paths=False, roles=False, split=False, titles=False,
                                                         reports=False, report_files=False)),
                               ("+ names, path_words, files", RankingOptions(names=True, path_words=True,
                                                                             files=True))):
            r = Retriever(reader, embedder, settings.search, options=options)
            t0, c0 = time.perf_counter(), time.process_time()
            r.search(queries[0], k=10)
            out[f"{label}: first query incl. catalog build: wall ms"] = round((time.perf_counter() - t0) * 1000, 1)
            out[f"{label}: first query incl. catalog build: cpu ms"] = round((time.process_time() - c0) * 1000, 1)
            for scope, repos in (("whole index", None), (f"repo {repo}", [repo])):
                wall, cpu = [], []
                for q in queries:
                    t, c = time.perf_counter(), time.process_time()
                    r.search(q, k=10, repos=repos)
                    wall.append((time.perf_counter() - t) * 1000)
                    cpu.append((time.process_time() - c) * 1000)
                _stats(out, f"{label}, {scope}", wall, cpu)
        wall, cpu = [], []
        for q in queries:
            t, c = time.perf_counter(), time.process_time()
            embedder.embed_query(q)
            wall.append((time.perf_counter() - t) * 1000)
            cpu.append((time.process_time() - c) * 1000)
        _stats(out, "query embedding alone", wall, cpu)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--source-home", type=Path, default=ROOT / ".dayone")
    ap.add_argument("--target-home", type=Path, default=ROOT / "bench-data" / "search-100k")
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=60)
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--realistic", action="store_true", help="the realistic eval's questions (both splits)")
    args = ap.parse_args()
    if args.rebuild or not (args.target_home / "index" / "CURRENT").is_file():
        build(args.source_home, args.target_home, args.chunks)
    if args.realistic:
        questions = [q.query for split in ("dev", "heldout") for q in load_realistic(split=split)]
        queries = random.Random(13).sample(questions, min(args.queries, len(questions)))
    else:
        queries = [q.query for q in load_questions()][: args.queries]
    load_before = os.getloadavg()
    result = measure(args.target_home, queries, "httpx")
    result["question characters p50"] = statistics.median(len(q) for q in queries)
    result["load average before, after"] = [load_before, os.getloadavg()]
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
