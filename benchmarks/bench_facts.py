"""How soon the facts card can be on screen: prints numbers, asserts nothing (results in docs/answering.md).

    python benchmarks/bench_facts.py [--home DIR] [--rounds 3] [QUESTION ...]

Uses the index in --home (default: $DAYONE_HOME), or indexes examples/shop into a temporary home first. For each
question it times what happens between Ask and the card in the web UI and `dayone ask`: the conversation's
retrieval (`IndexRetriever.retrieve`: hybrid search, the relevance check, and for "how" questions the calls
followed through the symbol table) and then the card itself (`FactsBuilder.card`: symbol table, manifest, store
payloads and one bounded `git log` per file). The model is not loaded: nothing of this waits for it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUESTIONS = [
    "where are orders paid?", "how are orders paid?", "which method reserves stock for an order?",
    "how does OrderService.pay charge the card?", "which Go function sends the order confirmation email?",
    "how does the web front end add an item to the cart?", "what is InventoryService for?",
    "how are refunds processed?",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("questions", nargs="*")
    args = parser.parse_args()
    if args.home is not None:
        os.environ["DAYONE_HOME"] = str(args.home)
    elif "DAYONE_HOME" not in os.environ:
        os.environ["DAYONE_HOME"] = tempfile.mkdtemp(prefix="bench-facts-")
    os.environ.setdefault("DAYONE_TOUR__SUMMARIES", "false")
    from app.answer.facts import FactsBuilder
    from app.answer.llama_index import IndexRetriever
    from app.search.retriever import Retriever
    from app.settings import load_settings
    from indexer.embedding.dense import embedder_for
    from indexer.pipeline.run import Indexer
    from indexer.reader import IndexReader, NoIndex
    from indexer.settings import RepoConfig

    settings = load_settings()
    embedder = embedder_for(settings)
    try:
        reader = IndexReader(settings)
    except NoIndex:
        print(f"indexing examples/shop into {settings.home}", file=sys.stderr)
        Indexer(settings, embedder=embedder).run([RepoConfig(name="shop", path=str(ROOT / "examples" / "shop"))])
        reader = IndexReader(settings)
    questions = args.questions or QUESTIONS
    retriever = IndexRetriever(Retriever(reader, embedder, settings.search), k=settings.llm.max_sources)
    retriever.retrieve("warm up: load the name catalog")
    rows: dict[str, list[tuple[float, float, int]]] = {q: [] for q in questions}
    for _round in range(args.rounds):
        for q in questions:
            t0 = time.perf_counter()
            nodes = retriever.retrieve(q)
            t1 = time.perf_counter()
            hits = [n.node.metadata | {"text": n.node.get_content()} for n in nodes]
            card = FactsBuilder(settings, reader, None).card(q, [_Hit(h) for h in hits])
            rows[q].append((t1 - t0, time.perf_counter() - t1, len(card.symbols)))
    print(f"index {reader.generation.name if reader.generation else '?'}: {reader.manifest.count_chunks():,} "
          f"chunks; {args.rounds} rounds; load average {os.getloadavg()[0]:.1f}")
    print("| question | retrieval (median) | card (median) | card (max) | symbols |")
    print("|---|---|---|---|---|")
    totals = []
    for q, runs in rows.items():
        retrieve = statistics.median(r[0] for r in runs)
        card = statistics.median(r[1] for r in runs)
        totals += [r[0] + r[1] for r in runs]
        print(f"| {q} | {retrieve * 1000:.0f} ms | {card * 1000:.0f} ms | {max(r[1] for r in runs) * 1000:.0f} ms "
              f"| {runs[-1][2]} |")
    print(f"question to card, all runs: median {statistics.median(totals) * 1000:.0f} ms, "
          f"max {max(totals) * 1000:.0f} ms")
    reader.close()


class _Hit:
    """A retrieved node's location, as the card reads it from an answer's sources."""

    def __init__(self, meta: dict):
        self.repo, self.path, self.symbol, self.kind = meta["repo"], meta["path"], meta["symbol"], meta["kind"]
        self.start_line, self.end_line = int(meta["start_line"]), int(meta["end_line"])


if __name__ == "__main__":
    main()
