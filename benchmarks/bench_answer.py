"""Answer latency: time to first token, tokens/s and peak memory for `dayone ask` with real retrieved context.

For each model, in a fresh process (so peak RSS is that model's): a first question, a follow-up in the same
conversation (its prompt extends the first, so llama.cpp reuses the evaluated prefix), and a question whose
prompt is filled to about `--fill` tokens of sources (the "4k context" figure).

    python benchmarks/bench_answer.py --models qwen2.5-coder-0.5b qwen2.5-coder-1.5b [--repo examples/shop]

The repository is indexed into a temporary DAYONE_HOME unless --home names an existing one.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FIRST = "How is an order paid, and what happens when the card is declined?"
FOLLOW_UP = "And where is the confirmation email sent after that?"
FILLED = "How does a request to pay for an order reach the database?"


def drain(stream: Iterable[str], started: float | None = None) -> tuple[float | None, str]:
    """Consume a streamed answer; return (seconds from `started` to the first non-empty piece, the whole text).

    The timing core shared with gpu/answer_speed.py. `started` (a perf_counter reading) defaults to now, which
    for a generator is before the model is asked, so prompt evaluation is inside the first-token time."""
    started = time.perf_counter() if started is None else started
    first = None
    pieces = []
    for piece in stream:
        if first is None and piece:
            first = time.perf_counter() - started
        pieces.append(piece)
    return first, "".join(pieces)


def run_one(model: str, fill: int, threads: int) -> dict:
    from app.answer.chat_model import load_chat_model
    from app.answer.conversation import Answerer
    from app.settings import load_settings
    from indexer.embedding.dense import embedder_for
    from indexer.reader import IndexReader

    settings = load_settings()
    settings.llm.model_path = model
    settings.llm.n_threads = threads
    settings.llm.max_answer_tokens = 160
    t = time.perf_counter()
    chat = load_chat_model(settings)
    load_s = time.perf_counter() - t
    embedder = embedder_for(settings)
    results: dict = {"model": model, "load_s": round(load_s, 2), "threads": threads, "turns": []}
    with IndexReader(settings) as reader:
        def measure(conversation, label: str, question: str) -> None:
            started = time.perf_counter()
            stream = conversation.ask(question)  # retrieval runs here, so the clock starts before it
            first, _text = drain(stream, started)
            answer = stream.answer
            tm = answer.timings
            results["turns"].append({
                "turn": label, "prompt_tokens": tm.get("prompt_tokens"),
                "first_token_s": round(first or 0.0, 3),  # question in -> first piece out (retrieval included)
                "model_first_token_s": round(tm.get("first_token_s", 0.0), 3),
                "retrieve_s": round(tm.get("retrieve_s", 0.0), 3), "condense_s": round(tm.get("condense_s", 0.0), 3),
                "completion_tokens": tm.get("completion_tokens"), "tokens_per_s": round(tm.get("tokens_per_s", 0.0), 1),
                "citations": [f"{c.path}:{c.start_line}" for c in answer.citations],
            })

        answerer = Answerer(reader, embedder, chat, settings)
        conversation = answerer.conversation()
        measure(conversation, "first", FIRST)
        measure(conversation, "follow-up", FOLLOW_UP)
        settings.llm.max_sources = 50
        settings.llm.n_ctx = fill + settings.llm.max_answer_tokens + 64
        chat.close()
        chat = load_chat_model(settings)
        measure(Answerer(reader, embedder, chat, settings).conversation(), f"filled to ~{fill} tokens", FILLED)
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["qwen2.5-coder-0.5b"])
    parser.add_argument("--repo", default=str(ROOT / "examples" / "shop"))
    parser.add_argument("--home", help="an existing DAYONE_HOME with the repository indexed")
    parser.add_argument("--fill", type=int, default=4096, help="prompt size of the filled question, in tokens")
    parser.add_argument("--threads", type=int, default=0, help="llama.cpp threads (0: dayone's default)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(args.child, args.fill, args.threads)))
        return
    home = args.home or tempfile.mkdtemp(prefix="dayone-bench-answer-")
    env = {**os.environ, "DAYONE_HOME": home}
    if not args.home:
        subprocess.run([sys.executable, "-m", "app.doors.cli", "index", args.repo], env=env, check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL)
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; repo {args.repo}", flush=True)
    for model in args.models:
        out = subprocess.run([sys.executable, __file__, "--child", model, "--fill", str(args.fill),
                              "--threads", str(args.threads)], env=env, check=True, capture_output=True, text=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"\n{model}: load {result['load_s']} s, peak RSS {result['peak_rss_mb']} MB")
        print(f"  {'turn':<24}{'prompt tok':>11}{'first token s':>15}{'model TTFT s':>14}{'tok/s':>8}  cites")
        for t in result["turns"]:
            print(f"  {t['turn']:<24}{t['prompt_tokens'] or 0:>11}{t['first_token_s']:>15}"
                  f"{t['model_first_token_s']:>14}{t['tokens_per_s']:>8}  {', '.join(t['citations'][:3])}")
        print(json.dumps(result))


if __name__ == "__main__":
    main()
