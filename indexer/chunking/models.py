"""Plain data passed between the indexing stages.

Kept in one module so every stage (sources, chunking, embedding, store, pipeline) speaks the same
types without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SourceFile:
    """A file that a repository snapshot offers for indexing."""

    path: str  # repository-relative, POSIX separators
    blob: str  # git blob sha1 (git-style hash of the content for plain directories)
    size: int  # bytes


@dataclass
class Chunk:
    """One retrievable unit: a symbol, a part of a long symbol, a module's top-level code, a doc section,
    or a window of lines."""

    path: str
    language: str
    kind: str  # function, method, class, struct, interface, enum, trait, module, section, text, ...
    symbol: str  # qualified name, e.g. "shop.api.orders.OrderService.pay" ("" only for anonymous windows)
    name: str  # the short name ("pay"); "" for windows
    signature: str  # first line(s) of the definition, "" for windows
    docstring: str
    start_line: int  # 1-based, inclusive
    end_line: int  # 1-based, inclusive
    text: str
    part: int = 1  # 1-based part number when a long symbol is split
    parts: int = 1


@dataclass(frozen=True)
class Definition:
    """A definition site, for exact-name lookup and the repository map."""

    name: str
    qualified_name: str
    kind: str
    path: str
    start_line: int
    end_line: int


@dataclass(frozen=True)
class Reference:
    """A use of a name: a call, an import, or another identifier use."""

    name: str
    kind: str  # "call", "import" or "identifier"
    path: str
    line: int


@dataclass
class FileChunks:
    """Everything the chunker extracts from one file."""

    path: str
    language: str
    chunks: list[Chunk] = field(default_factory=list)
    definitions: list[Definition] = field(default_factory=list)
    references: list[Reference] = field(default_factory=list)
    had_errors: bool = False  # the parser recovered from syntax errors
