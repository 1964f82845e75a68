"""What following a "how" flow costs before the model starts: prints numbers, asserts nothing (results in
docs/benchmarks.md).

    python benchmarks/bench_flow_map.py --home DIR [--split dev|heldout|all] [--rounds 2]

DIR holds the answer eval's index (`dayone eval --answers` builds it under its home). For each "how" question of
the split it times the conversation's retrieval (`IndexRetriever.retrieve`) three ways: plain hybrid search (what
retrieval alone costs), with the flow followed into the prompt's sources (app/answer/flow.py `follow_flow`), and
with the reading map's caller and chain past the sources as well (`follow_on`, what `dayone ask` runs). The model
is not loaded: all of this happens before its first token.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--split", default="dev", choices=["dev", "heldout", "all"])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    os.environ["DAYONE_HOME"] = str(args.home)

    from app.answer.llama_index import IndexRetriever
    from app.answer.outline import MAP_EXTRA
    from app.search.retriever import Retriever
    from app.settings import load_settings
    from indexer.embedding.dense import embedder_for
    from indexer.reader import IndexReader

    rows = [json.loads(line) for line in (ROOT / "eval/answers/questions.jsonl").read_text().splitlines() if line]
    questions = [q for q in rows if q["kind"] == "how" and args.split in ("all", q["split"])]
    settings = load_settings()
    ways = [("plain search", {"follow_calls": False}), ("flow into the sources", {}),
            ("flow + map's caller and chain (ask)", {"extra": MAP_EXTRA})]
    with IndexReader(settings) as reader:
        search = Retriever(reader, embedder_for(settings), settings.search)
        for q in questions:  # warm the store and the embedder once
            IndexRetriever(search, k=settings.llm.max_sources, repos=[q["repo"]]).retrieve(q["question"])
        print(f"{len(questions)} \"how\" questions ({args.split}) x {args.rounds} rounds, {os.cpu_count()} cores")
        print("| retrieval | median | mean | max |\n|---|---|---|---|")
        for label, options in ways:
            times = []
            for _ in range(args.rounds):
                for q in questions:
                    retriever = IndexRetriever(search, k=settings.llm.max_sources, repos=[q["repo"]], **options)
                    started = time.perf_counter()
                    retriever.retrieve(q["question"])
                    times.append(time.perf_counter() - started)
            print(f"| {label} | {statistics.median(times) * 1000:.0f} ms | {statistics.mean(times) * 1000:.0f} ms "
                  f"| {max(times) * 1000:.0f} ms |")


if __name__ == "__main__":
    main()
