"""A file as numbered lines: the unit every chunk's start and end line refer to."""

from __future__ import annotations

import logging
import re
from bisect import bisect_right
from collections.abc import Iterable
from pathlib import PurePosixPath

from indexer.chunking.models import Chunk

log = logging.getLogger(__name__)

class Source:
    """A file's text in the forms the chunker needs: str lines for windows, UTF-8 bytes for tree-sitter."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text
        self.module = module_path(path)
        self.file_name = PurePosixPath(path.replace("\\", "/")).name
        # Only "\n" ends a line, as for tree-sitter; a trailing "\r" is display noise.
        raw = text.split("\n")
        if raw and raw[-1] == "":
            raw.pop()
        self.lines = [line[:-1] if line.endswith("\r") else line for line in raw]
        self.line_count = len(self.lines)
        self._bytes: bytes | None = None
        self._line_starts: list[int] | None = None

    @property
    def data(self) -> bytes:
        if self._bytes is None:
            self._bytes = self.text.encode("utf-8", errors="replace")
        return self._bytes

    @property
    def line_starts(self) -> list[int]:
        if self._line_starts is None:
            data = self.data
            starts = [0]
            i = data.find(b"\n")
            while i >= 0:
                starts.append(i + 1)
                i = data.find(b"\n", i + 1)
            self._line_starts = starts
        return self._line_starts

    def row_of(self, byte: int) -> int:
        return bisect_right(self.line_starts, byte) - 1

    def decode(self, start: int, end: int) -> str:
        return self.data[start:end].decode("utf-8", errors="replace")

    def indent_before(self, byte: int) -> str:
        """The whitespace between the start of `byte`'s line and `byte`, or "" if there is code there."""
        line_start = self.line_starts[self.row_of(byte)]
        prefix = self.decode(line_start, byte)
        return prefix if not prefix.strip() else ""


Lines = list[tuple[int, str]]  # (0-based row in the file, text of that line)


def pieces_to_lines(pieces: Iterable[tuple[str, int]]) -> Lines:
    """Join text pieces (each starting at a file row) into lines that remember the row they start on."""
    out: list[list] = []
    for piece, row in pieces:
        parts = piece.split("\n")
        if out and out[-1][0] < row and out[-1][1].strip() and parts[0].strip():
            # Code after a collapsed body on the body's last row (`} x = 1`): a line of its own, so the row a
            # chunk claims is the row its text is on.
            out.append([row, parts[0]])
        elif out:
            if not out[-1][1].strip() and parts[0].strip():
                out[-1][0] = row  # only indentation so far: the line belongs to the row its code comes from
            out[-1][1] += parts[0]
        else:
            out.append([row, parts[0]])
        for i, part in enumerate(parts[1:], 1):
            out.append([row + i, part])
    lines = [(r, t[:-1] if t.endswith("\r") else t) for r, t in out]
    return trim_lines(lines)


def trim_lines(lines: Lines) -> Lines:
    start, end = 0, len(lines)
    while start < end and not lines[start][1].strip():
        start += 1
    while end > start and not lines[end - 1][1].strip():
        end -= 1
    return lines[start:end]


def clamp_lines(chunks: list[Chunk], line_count: int) -> None:
    top = max(line_count, 1)
    for c in chunks:
        c.start_line = min(max(c.start_line, 1), top)
        c.end_line = min(max(c.end_line, c.start_line), top)

def module_path(path: str) -> str:
    """The dotted module path of a repository-relative file: `shop/api/__init__.py` -> `shop.api`."""
    parts = [p for p in path.replace("\\", "/").split("/") if p and p != "."]
    if not parts:
        return ""
    last = parts[-1]
    dot = last.rfind(".")
    if dot > 0:
        last = last[:dot]
    parts[-1] = last
    if len(parts) > 1 and last in ("__init__", "index"):
        parts.pop()
    return ".".join(parts)


WORD = re.compile(r"\w")  # a line with a word character is not blank or punctuation only
