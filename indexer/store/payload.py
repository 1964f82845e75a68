"""The typed payload every point carries: the one place that knows the payload's keys.

The pipeline writes a `ChunkPayload` per chunk and search reads it back with `ChunkPayload.from_dict`; nothing
else reads payload dicts by string key, so a renamed field is a type error, not a silent `None` far away.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

# Payload keys with a keyword index in both engines: the fields filters use (access control among them).
INDEXED_KEYS = ("repo", "path", "language", "kind", "symbol")


@dataclass(frozen=True)
class ChunkPayload:
    """A chunk as stored beside its vectors: where it is, what it defines, and its (redacted) text."""

    repo: str = ""
    path: str = ""
    start_line: int = 1
    end_line: int = 1
    language: str = ""
    kind: str = ""
    symbol: str = ""
    name: str = ""
    signature: str = ""
    text: str = ""
    commit: str = ""
    part: int = 1  # a long symbol is stored as parts 1..parts, each repeating its signature
    parts: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChunkPayload:
        """Read a stored payload; keys this version does not know are ignored, missing ones take defaults."""
        return cls(**{k: data[k] for k in _FIELDS if data.get(k) is not None})


_FIELDS = tuple(f.name for f in fields(ChunkPayload))
