"""Chunking: one file's bytes to symbol-level chunks, definitions and references.

files.py picks the strategy per file (`chunk_file`); code.py chunks code by tree-sitter definitions,
sections.py splits Markdown/reStructuredText at headings and anything else in line windows, splitter.py cuts
every unit to the embedding model's token budget, lines.py is the file as numbered lines, languages.py loads
the grammars and the queries/*.scm tag queries, models.py holds the result types.
"""

from indexer.chunking.files import CHUNKER_VERSION, chunk_file
from indexer.chunking.lines import module_path

__all__ = ["CHUNKER_VERSION", "chunk_file", "module_path"]
