"""Text that is not code: Markdown and reStructuredText split at headings, anything else in line windows."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from indexer.chunking.lines import WORD, Source
from indexer.chunking.models import Chunk, FileChunks
from indexer.chunking.splitter import Splitter

log = logging.getLogger(__name__)

def chunk_windows(
    src: Source, language: str, result: FileChunks, splitter: Splitter, window_lines: int
) -> None:
    lines = list(enumerate(src.lines))
    parts = [p for p in splitter.split(lines, window_lines=window_lines) if WORD.search(p[1])]
    for i, (part_lines, part_text) in enumerate(parts, 1):
        result.chunks.append(
            Chunk(path=src.path, language=language, kind="text", symbol=src.module, name=src.file_name,
                  signature="", docstring="", start_line=part_lines[0][0] + 1, end_line=part_lines[-1][0] + 1,
                  text=part_text, part=i, parts=len(parts))
        )


# --- headings (Markdown, reStructuredText) --------------------------------------------------------------

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*$")
_ATX_CLOSE = re.compile(r"(?:^|[ \t]+)#+$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_LIST_OR_QUOTE = re.compile(r"^ {0,3}(?:[-*+>]|\d{1,9}[.)])(?:\s|$)")
_RST_ADORNMENT = re.compile(r"^([=\-~^\"'`#*+:.<>_!$%&,/;?@\\|])\1{2,}\s*$")


@dataclass
class _Heading:
    row: int  # first row of the section (an rst overline when there is one)
    title: str
    line: str  # the heading as written, repeated atop later parts


def markdown_headings(lines: list[str]) -> list[_Heading]:
    headings: list[_Heading] = []
    start = 0
    if lines and lines[0].strip() == "---":  # YAML front matter
        for i in range(1, min(len(lines), 500)):
            if lines[i].strip() in ("---", "..."):
                start = i + 1
                break
    fence: str | None = None
    prev_para = False  # the previous line is paragraph text that a setext underline could turn into a heading
    for i in range(start, len(lines)):
        line = lines[i]
        m = _FENCE.match(line)
        if fence is not None:
            closing = m is not None and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence)
            if m and closing and not line[m.end():].strip():
                fence = None
            continue
        if m:
            fence = m.group(1)
            prev_para = False
            continue
        m = _ATX.match(line)
        if m:
            title = _ATX_CLOSE.sub("", m.group(2) or "").strip()
            headings.append(_Heading(i, title, line.strip()))
            prev_para = False
            continue
        m = _SETEXT.match(line)
        if m and prev_para:
            title = lines[i - 1].strip()
            if headings and headings[-1].row == i - 1:
                headings.pop()
            headings.append(_Heading(i - 1, title, title))
            prev_para = False
            continue
        stripped = line.strip()
        prev_para = (
            bool(stripped)
            and not line.startswith(("    ", "\t"))
            and not _LIST_OR_QUOTE.match(line)
            and not stripped.startswith(("|", "<"))
        )
    return headings


def rst_headings(lines: list[str]) -> list[_Heading]:
    headings: list[_Heading] = []
    i = 0
    n = len(lines)
    while i < n - 1:
        title, under = lines[i], lines[i + 1]
        m = _RST_ADORNMENT.match(under)
        long_enough = len(under.rstrip()) >= len(title.rstrip())
        if m and long_enough and title.strip() and not _RST_ADORNMENT.match(title):
            above = lines[i - 1] if i > 0 else ""
            overline = _RST_ADORNMENT.match(above) is not None and above[0] == m.group(1)
            if overline or not title[0].isspace():  # only an overlined title may be indented
                headings.append(_Heading(i - 1 if overline else i, title.strip(), title.strip()))
                i += 2
                continue
        i += 1
    return headings


def _slug(title: str) -> str:
    slug = re.sub(r"[^\w\- ]", "", title.lower()).strip().replace(" ", "-")
    return slug or "section"


def chunk_sections(
    src: Source, language: str, result: FileChunks, splitter: Splitter, headings: list[_Heading]
) -> None:
    lines = list(enumerate(src.lines))
    first = headings[0].row if headings else len(lines)
    if first > 0:  # text before the first heading
        parts = [p for p in splitter.split(lines[:first]) if WORD.search(p[1])]
        for i, (part_lines, part_text) in enumerate(parts, 1):
            result.chunks.append(
                Chunk(path=src.path, language=language, kind="text", symbol=src.module, name=src.file_name,
                      signature="", docstring="", start_line=part_lines[0][0] + 1,
                      end_line=part_lines[-1][0] + 1, text=part_text, part=i, parts=len(parts))
            )
    seen: dict[str, int] = {}
    for k, h in enumerate(headings):
        end = headings[k + 1].row if k + 1 < len(headings) else len(lines)
        slug = _slug(h.title)
        if slug in seen:
            seen[slug] += 1
            slug = f"{slug}-{seen[slug]}"
        else:
            seen[slug] = 0
        parts = splitter.split(lines[h.row:end], header=h.line)
        for i, (part_lines, part_text) in enumerate(parts, 1):
            result.chunks.append(
                Chunk(path=src.path, language=language, kind="section", symbol=f"{src.module}#{slug}",
                      name=h.title, signature=h.line, docstring="", start_line=part_lines[0][0] + 1,
                      end_line=part_lines[-1][0] + 1, text=part_text, part=i, parts=len(parts))
            )
