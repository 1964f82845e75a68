"""Thumbs up/down on answers, kept on this machine with the question and the sources it was given.

It is the only thing `serve` writes. One JSON object per line in `$DAYONE_HOME/feedback.jsonl`: appending a
line is atomic enough for one writer process, survives a crash mid-write (a torn last line is skipped when
read), and operators read it with `jq` to find the questions the index answers badly. Versions before 0.2 wrote
`feedback.sqlite`; that file is left as it was.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any


class FeedbackStore:
    """Append-only votes; `all()` returns them oldest first."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()

    def add(self, *, vote: str, question: str, answer: str, sources: list[dict], user: str | None) -> None:
        line = json.dumps({"at": time.time(), "user": user, "vote": vote, "question": question, "answer": answer,
                           "sources": sources}, ensure_ascii=False) + "\n"
        with self._lock, open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            try:
                text = self.path.read_text(encoding="utf-8")
            except FileNotFoundError:
                return []
        votes = []
        for line in text.splitlines():
            try:
                votes.append(json.loads(line))
            except ValueError:  # a line torn by a crash mid-write
                continue
        return votes

    def close(self) -> None:
        """Nothing is held open between votes."""
