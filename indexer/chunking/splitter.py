"""Cutting chunks to the embedding model's token budget: long units become parts that repeat their head."""

from __future__ import annotations

import logging
from collections.abc import Callable

from indexer.chunking.lines import Lines, trim_lines

log = logging.getLogger(__name__)


def estimate_tokens(text: str) -> int:
    # About three characters per token for code with a WordPiece vocabulary; cheap and errs on the high side.
    return len(text) // 3 + 1


class Splitter:
    """Cuts a run of lines into parts of at most `max_tokens`, each later part headed by `header`."""

    def __init__(self, max_tokens: int, count: Callable[[str], int]) -> None:
        base = max(count(""), 0)  # what the counter charges for nothing (special tokens, heuristics)
        if base >= max_tokens // 2:  # a counter this coarse would cut every line into characters
            count, base = estimate_tokens, estimate_tokens("")
        self.max_tokens = max_tokens
        self.count = count
        self.base = base

    def split(
        self, lines: Lines, header: str = "", window_lines: int | None = None
    ) -> list[tuple[Lines, str]]:
        """The parts as (lines, text); the text of every part after the first starts with the header."""
        lines = trim_lines(lines)
        if not lines:
            return []
        whole = "\n".join(t for _, t in lines)
        whole_cost = self.count(whole)  # real tokenizers are the main cost here: count each text once
        fits_window = window_lines is None or len(lines) <= window_lines
        if fits_window and whole_cost <= self.max_tokens:
            return [(lines, whole)]
        header = self._fit_header(header)
        groups = self._pack(lines, header, window_lines, whole_cost)
        parts: list[tuple[Lines, str]] = []
        for group in groups:
            parts.extend(self._verified(group, header, headed=bool(parts)))
        return [p for p in parts if any(t.strip() for _, t in p[0])]  # a cut run of spaces says nothing

    def _fit_header(self, header: str) -> str:
        header = " ".join(header.split())
        limit = max(self.max_tokens // 4, 1)
        if header and self.count(header) > limit:
            header = self._cut(header, limit)[0].rstrip() + " …"
        return header

    def _pack(self, lines: Lines, header: str, window_lines: int | None, whole_cost: int) -> list[Lines]:
        count, base = self.count, self.base
        raw = [max(count(t) - base, 0) for _, t in lines]
        # Scale per-line costs so they add up to the real cost of the joined text (newlines, merges, and
        # counters that only bound short texts).
        total = max(whole_cost - base, 1)
        scale = total / sum(raw) if sum(raw) else 1.0
        costs = [c * scale + 0.01 for c in raw]
        header_cost = (max(count(header) - base, 0) + 1) if header else 0
        first_budget = self.max_tokens - base
        later_budget = max(first_budget - header_cost, 1)
        window = window_lines or len(lines) + 1

        groups: list[Lines] = []
        cur: list[int] = []  # indexes into lines
        cur_cost = 0.0

        def budget() -> float:
            return later_budget if groups else first_budget

        for i, (row, text) in enumerate(lines):
            c = costs[i]
            if cur and (cur_cost + c > budget() or len(cur) >= window):
                cut = len(cur)
                # Prefer ending a part at a blank line when one is near the end.
                for j in range(len(cur) - 1, max(len(cur) * 3 // 4, 1) - 1, -1):
                    if not lines[cur[j]][1].strip():
                        cut = j
                        break
                groups.append([lines[k] for k in cur[:cut]])
                cur = cur[cut:]
                cur_cost = sum(costs[k] for k in cur)
                if cur and (cur_cost + c > budget() or len(cur) >= window):
                    groups.append([lines[k] for k in cur])
                    cur, cur_cost = [], 0.0
            if c > budget():
                if cur:
                    groups.append([lines[k] for k in cur])
                    cur, cur_cost = [], 0.0
                limit = int(budget()) + base
                groups.extend([(row, piece)] for piece in self._cut(text, max(limit, 1)))
                continue
            cur.append(i)
            cur_cost += c
        if cur:
            groups.append([lines[k] for k in cur])
        return [g for g in (trim_lines(g) for g in groups) if g]

    def _verified(self, group: Lines, header: str, headed: bool) -> list[tuple[Lines, str]]:
        """The group as parts, halved until each really fits (the packing only estimates). `headed`: whether
        the group's first part carries the header (every part but the unit's very first does)."""
        body = "\n".join(t for _, t in group)
        text = f"{header}\n{body}" if header and headed else body
        if self.count(text) <= self.max_tokens:
            return [(group, text)]
        if len(group) > 1:
            half = len(group) // 2
            first = self._verified(trim_lines(group[:half]) or group[:half], header, headed)
            return first + self._verified(trim_lines(group[half:]) or group[half:], header, True)
        row, line = group[0]
        limit = max(self.max_tokens - (self.count(header) if header else 0), 1)
        pieces = self._cut(line, limit)
        if len(pieces) == 1:  # the counter cannot go lower; accept rather than loop
            return [(group, text)]
        out: list[tuple[Lines, str]] = []
        for piece in pieces:
            out.extend(self._verified([(row, piece)], header, headed or bool(out)))
        return out

    def _cut(self, text: str, limit: int) -> list[str]:
        """Cut one over-long line into pieces of at most `limit` tokens, preferring to cut at spaces."""
        count = self.count
        pieces: list[str] = []
        sample = text[:4096]
        ratio = max(len(sample) / max(count(sample), 1), 0.25)  # characters per token
        rest = text
        while rest:
            n = max(int(limit * ratio * 0.9), 1)
            if n >= len(rest) and count(rest) <= limit:
                pieces.append(rest)
                break
            n = min(n, len(rest))
            while n > 1 and count(rest[:n]) > limit:
                n = max(n * 3 // 4, 1)
            space = rest.rfind(" ", n // 2, n)
            if space > 0 and n < len(rest):
                n = space + 1
            pieces.append(rest[:n])
            rest = rest[n:]
        return pieces or [text]
