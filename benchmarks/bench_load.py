"""Load: N concurrent chat sessions through the UI's API against a real `dayone serve` on loopback.

Every session is its own gradio_client (its own browser session) asking one question at the same moment.
Reports errors, latency (submit to final answer) p50/p95/max, how far the queue strayed from arrival order, and
the server's peak memory.

    python benchmarks/bench_load.py --sessions 50 [--answer-tokens 64] [--repo examples/shop]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ["Where are orders paid?", "Which function reserves stock?", "How is the confirmation email sent?",
             "Where are items added to the cart?", "What happens when a payment fails?",
             "Where is the orders table defined?", "How are refunds handled?", "What does the worker do?"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--answer-tokens", type=int, default=64)
    parser.add_argument("--repo", default=str(ROOT / "examples" / "shop"))
    parser.add_argument("--port", type=int, default=7877)
    args = parser.parse_args()

    from gradio_client import Client

    home = tempfile.mkdtemp(prefix="dayone-bench-load-")
    env = {**os.environ, "DAYONE_HOME": home, "DAYONE_LLM__MAX_ANSWER_TOKENS": str(args.answer_tokens)}
    subprocess.run([sys.executable, "-m", "app.doors.cli", "index", args.repo], env=env, cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    server = subprocess.Popen([sys.executable, "-m", "app.doors.cli", "serve", "--port", str(args.port)], env=env,
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{args.port}"
    try:
        while True:
            try:
                urllib.request.urlopen(url + "/healthz", timeout=2).close()
                break
            except OSError:
                if server.poll() is not None:
                    sys.exit("dayone serve did not start")
                time.sleep(0.5)
        proc = psutil.Process(server.pid)
        peak = [proc.memory_info().rss]
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], proc.memory_info().rss)
                time.sleep(0.2)

        threading.Thread(target=watch, daemon=True).start()
        idle_rss = proc.memory_info().rss
        clients = [Client(url, verbose=False) for _ in range(args.sessions)]
        finished: list[tuple[int, float]] = []
        lock = threading.Lock()

        def callback(i: int):
            def record(*_outputs: object) -> None:
                with lock:
                    finished.append((i, time.perf_counter()))
            return record

        started = time.perf_counter()
        submitted, jobs = [], []
        for i, client in enumerate(clients):
            submitted.append(time.perf_counter())
            jobs.append(client.submit(QUESTIONS[i % len(QUESTIONS)], [], [], [], api_name="/chat",
                                      result_callbacks=[callback(i)]))
        errors, latencies = 0, []
        for i, job in enumerate(jobs):
            try:
                history, *_rest = job.result(timeout=7200)
                if not history or not history[-1]["content"]:
                    errors += 1
            except Exception as exc:  # noqa: BLE001 - counted and reported
                errors += 1
                print(f"session {i}: {type(exc).__name__}: {exc}", file=sys.stderr)
        total = time.perf_counter() - started
        time.sleep(1)
        stop.set()
        done_at = dict(finished)
        latencies = sorted(done_at[i] - submitted[i] for i in done_at)
        order = [i for i, _t in sorted(finished, key=lambda x: x[1])]
        displacement = max((abs(pos - i) for pos, i in enumerate(order)), default=0)
        q = statistics.quantiles(latencies, n=20) if len(latencies) >= 2 else latencies * 19
        print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; sessions {args.sessions}, "
              f"answer tokens <= {args.answer_tokens}")
        print(f"errors {errors}/{args.sessions}; all answered in {total:.0f} s "
              f"({args.sessions / total * 60:.1f} answers/min)")
        print(f"latency p50 {statistics.median(latencies):.1f} s, p95 {q[18]:.1f} s, max {latencies[-1]:.1f} s")
        print(f"queue order: max displacement {displacement} (0 = strictly first come, first served)")
        print(f"server RSS: idle {idle_rss / 2**20:.0f} MB, peak {peak[0] / 2**20:.0f} MB")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
