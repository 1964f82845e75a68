"""Reading long, messy questions: a pasted bug report or change description, not a one-line question.

Why: all-MiniLM-L6-v2 reads the first 256 tokens of what it embeds, so the second half of a long report (often
the part with the traceback or the option name) never reaches the dense search; and a report mentions tests and
docs in passing ("added a test", "updated the docs") while it asks about the code's behaviour, so the role rule
of the retriever (tests and docs rank below source unless asked for) must read what the question asks, not every
word it contains. Both rules look only at the question's text, never at the repository.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

PART_CHARS = 900  # about 220 MiniLM tokens of prose: one part fits the model's 256-token window
MAX_PARTS = 4  # a pasted log past this adds cost, not evidence
LONG_CHARS = 300  # past this a question is a report, not a question: its title says what it asks
SHORT_HEAD_CHARS = 200  # a first line longer than this is a paragraph, not a title

_FENCE = re.compile(r"^\s*(```|~~~)")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z`\"'(])")


def _paragraphs(query: str) -> list[str]:
    """Blank-line separated blocks, a fenced code block kept whole (with the paragraph it follows)."""
    blocks: list[str] = []
    current: list[str] = []
    fenced = False
    for line in query.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            current.append(line)
            continue
        if not fenced and not line.strip():
            if current:
                blocks.append("\n".join(current))
                current = []
            continue
        current.append(line)
    if current:
        blocks.append("\n".join(current))
    return [b for b in blocks if b.strip()]


def _cut(block: str, limit: int) -> list[str]:
    """A block longer than a part, cut at sentence ends (or, for code, line ends) near the limit."""
    pieces = _SENTENCE.split(block) if not _FENCE.match(block) else block.splitlines()
    out: list[str] = []
    cur = ""
    for piece in pieces:
        while len(piece) > limit:  # one huge sentence or line
            out.append(piece[:limit])
            piece = piece[limit:]
        if cur and len(cur) + 1 + len(piece) > limit:
            out.append(cur)
            cur = piece
        else:
            cur = f"{cur}\n{piece}" if cur else piece
    if cur:
        out.append(cur)
    return out


def split_query(query: str, part_chars: int = PART_CHARS, max_parts: int = MAX_PARTS) -> list[str]:
    """The parts of a long question, each small enough for the model's window; a short question is one part.

    Paragraphs are packed in order up to `part_chars`; every part after the first starts with the question's
    title (its first line, when short), so a part about "the traceback below" still says what it is about."""
    query = query.strip()
    if len(query) <= part_chars:
        return [query] if query else []
    head = query.splitlines()[0].strip()
    title = head if len(head) <= SHORT_HEAD_CHARS else ""
    parts: list[str] = []
    cur = ""
    for block in _paragraphs(query):
        for piece in _cut(block, part_chars):
            if cur and len(cur) + 2 + len(piece) > part_chars:
                parts.append(cur)
                cur = piece if not title else f"{title}\n\n{piece}"
            else:
                cur = f"{cur}\n\n{piece}" if cur else piece
    if cur and cur != title:
        parts.append(cur)
    return parts[:max_parts]


def fuse(lists: Sequence[Sequence[str]], k: int = 60) -> list[str]:
    """Reciprocal-rank fusion of ranked id lists, the first list (the whole question's head) winning ties."""
    scores: dict[str, float] = {}
    for ids in lists:
        for rank, cid in enumerate(ids):
            scores[cid] = scores.get(cid, 0.0) + 1.0 / (k + rank + 1)
    order: dict[str, int] = {}
    for cid in (c for ids in lists for c in ids):
        order.setdefault(cid, len(order))
    return sorted(scores, key=lambda c: (-scores[c], order[c]))


def asked_roles(query: str, patterns: dict[str, re.Pattern[str]]) -> set[str]:
    """The roles (test, doc, example) a question asks about. A short question is read whole; a long report is
    read by its title only (a text with a blank line after its first paragraph is a report too): "Fix X when Y
    ... Also added a test" asks about X, not about the test."""
    text = query.strip()
    if is_report(text):
        head = text.splitlines()[0] if text else ""
        text = head if len(head) <= SHORT_HEAD_CHARS else _SENTENCE.split(head)[0]
    return {role for role, pattern in patterns.items() if pattern.search(text)}


REPORT_ROLE_PENALTY = {"test": 0.5, "example": 0.6, "doc": 0.6}


def is_report(query: str) -> bool:
    """A pasted report or change description (long, or a title with a body), not a one-line question: it is
    about the code's behaviour, and the tests and docs that repeat its words are what crowds the answer out."""
    text = query.strip()
    return len(text) > LONG_CHARS or re.search(r"\S\n\s*\n\s*\S", text) is not None


def role_penalties(query: str, default: dict[str, float], *, reports: bool) -> dict[str, float]:
    """How much a test, doc or example chunk is scaled when the question does not ask for one: more for a
    report (REPORT_ROLE_PENALTY) than for a short question, where a test can be what shows the usage."""
    return {r: min(p, REPORT_ROLE_PENALTY.get(r, p)) for r, p in default.items()} if reports and is_report(query) \
        else default


def dense_parts(query: str, search: Callable[[list[float]], list], embed: Callable[[str], list[float]],
                first: list) -> list:
    """The dense hits of a long question: each part searched on its own (the first part's hits are `first`,
    already searched with the whole question's vector), fused by rank; returns hits in fused order."""
    parts = split_query(query)
    if len(parts) <= 1:
        return first
    lists = [first, *(search(embed(p)) for p in parts[1:])]
    by_id = {h.id: h for hits in lists for h in hits}
    return [by_id[cid] for cid in fuse([[h.id for h in hits] for hits in lists])]


__all__ = ["asked_roles", "dense_parts", "fuse", "is_report", "role_penalties", "split_query"]
