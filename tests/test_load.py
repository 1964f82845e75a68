"""Many sessions at once through the UI's API (gradio_client, the same endpoint the page uses): every one is
answered, none fails, and the queue serves them in the order they came. Latency figures for 50 sessions are in
benchmarks/bench_load.py and docs/benchmarks.md, not here."""

from __future__ import annotations

import threading
import time

QUESTIONS = ["Where are orders paid?", "Which function reserves stock?", "How is the confirmation email sent?",
             "Where are items added to the cart?", "What happens when a payment fails?",
             "Where is the orders table defined?"]


def _text(content) -> str:
    """Gradio hands message content back as [{"type": "text", "text": ...}]."""
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content)


def test_concurrent_sessions_are_all_answered_in_arrival_order(server):
    from gradio_client import Client

    url, _home = server
    finished: list[int] = []
    lock = threading.Lock()

    def done(i: int):
        def callback(*_outputs):
            with lock:
                finished.append(i)
        return callback

    clients = [Client(url, headers={"X-Forwarded-User": "newhire"}, verbose=False) for _ in QUESTIONS]
    jobs = []
    for i, (client, question) in enumerate(zip(clients, QUESTIONS, strict=True)):
        jobs.append(client.submit(question, [], [], [], api_name="/chat", result_callbacks=[done(i)]))
        time.sleep(0.3)  # a clear arrival order
    results = [job.result(timeout=1200) for job in jobs]
    for question, (history, _q, sources, _flags, _facts) in zip(QUESTIONS, results, strict=True):
        assert _text(history[0]["content"]) == question
        answer = _text(history[-1]["content"])
        assert answer and answer != "…"
        assert "data-answered='yes'" in sources
    deadline = time.time() + 10
    while len(finished) < len(jobs) and time.time() < deadline:
        time.sleep(0.1)
    assert finished == list(range(len(QUESTIONS))), f"served out of order: {finished}"
