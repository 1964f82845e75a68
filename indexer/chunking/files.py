"""Split one file into retrievable chunks, and collect its definitions and references.

Code is chunked by syntax tree: one chunk per function, method and type-like definition, so that a search
hit is a whole unit a reader can understand. A class-like chunk keeps its header, fields and the
*signatures* of its members (bodies replaced by "..."), because the members are chunks of their own and
repeating their bodies would make the class chunk both huge and a duplicate hit. Code between symbols
(imports, constants, statements) becomes "module" chunks. Markdown and reStructuredText split at headings;
everything else goes in line windows.

Everything is cut to fit the embedding model (`max_tokens`): a long unit becomes parts that each start with
the unit's signature or heading, so every part still says what it belongs to.

`chunk_file` never raises: tree-sitter recovers from syntax errors, bytes are decoded with replacement,
and if symbol extraction itself fails on some odd input the file falls back to line windows (logged).
"""


from __future__ import annotations

import logging
from collections.abc import Callable

from indexer.chunking.code import chunk_code
from indexer.chunking.languages import CODE_LANGUAGES, sniff_language
from indexer.chunking.lines import Source, clamp_lines
from indexer.chunking.models import FileChunks
from indexer.chunking.sections import chunk_sections, chunk_windows, markdown_headings, rst_headings
from indexer.chunking.splitter import Splitter, estimate_tokens

log = logging.getLogger(__name__)

# Bump whenever chunk boundaries, texts or metadata change: the index is rebuilt when this differs.
CHUNKER_VERSION = "3"







def chunk_file(
    path: str,
    data: bytes,
    *,
    max_tokens: int = 256,
    count_tokens: Callable[[str], int] | None = None,
    window_lines: int = 40,
) -> FileChunks:
    """Chunk one file. `path` is repository-relative (it names the chunks); `data` is the file's content.

    Unknown file types are chunked as text. `count_tokens` measures a chunk for the embedding model (the
    default is a heuristic); `window_lines` caps the height of text and module windows.
    """
    count = count_tokens or estimate_tokens
    max_tokens = max(int(max_tokens), 8)
    window_lines = max(int(window_lines), 1)
    language = sniff_language(path, data) or "text"
    result = FileChunks(path=path, language=language)
    text = data.decode("utf-8-sig", errors="replace")
    if not text.strip():
        return result
    src = Source(path, text)
    splitter = Splitter(max_tokens, count)
    try:
        if language in CODE_LANGUAGES:
            chunk_code(src, language, result, splitter, window_lines)
        elif language == "markdown":
            chunk_sections(src, language, result, splitter, markdown_headings(src.lines))
        elif language == "rst":
            chunk_sections(src, language, result, splitter, rst_headings(src.lines))
        else:
            chunk_windows(src, language, result, splitter, window_lines)
    except Exception:  # a bug on odd input must not stop the indexing of a repository
        log.warning("chunking %s as %s failed; falling back to line windows", path, language, exc_info=True)
        result.chunks.clear()
        result.definitions.clear()
        result.references.clear()
        result.had_errors = True
        chunk_windows(src, language, result, splitter, window_lines)
    clamp_lines(result.chunks, src.line_count)
    return result
