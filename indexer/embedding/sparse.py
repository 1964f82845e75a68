"""Code-aware BM25 term vectors for Qdrant's sparse index (IDF applied by the engine's `Idf` modifier).

Plain word tokenizers miss code: `OrderService.pay`, `order_service` and `orders/api.py` must match queries
that name any piece of them, and a whole identifier must still match exactly. So each identifier yields
itself (lowercased) and its camelCase / snake_case / path parts, lightly stemmed. Document values carry
BM25's term-frequency saturation with length normalisation; query values are 1 per term, so the engine's
dot product with IDF is BM25.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter

VERSION = "1"  # bump when terms() or the weights change: the index rebuilds
K1 = 1.2
B = 0.75
AVG_DOC_TOKENS = 120.0  # typical chunk length in terms; fixed so chunks can be encoded independently

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")

# Question words that carry no meaning for code search; kept tiny on purpose (identifiers like `get`, `set`,
# `if` stay searchable in documents, only queries drop these).
QUERY_STOPWORDS = frozenset(
    """a an and are as at be by can do does for from how i in is it me my of on or our show should the this
    to what when where which who why with you your there their does did we us into""".split()
)


def stem(word: str) -> str:
    """Fold plurals only ('orders' ~ 'order', 'classes' ~ 'class'): cheap, and never merges unrelated words,
    which verb-suffix stripping without a real stemmer would."""
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("es") and word[:-2].endswith(("ss", "x", "z", "ch", "sh")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def terms(text: str) -> list[str]:
    """Every searchable term of a text, with repeats (their counts are the term frequencies)."""
    out: list[str] = []
    for match in _WORD.finditer(text):
        ident = match.group()
        lower = ident.lower()
        parts = [p for p in re.split(r"_+", ident) if p]
        pieces: list[str] = []
        for part in parts:
            pieces.extend(_CAMEL.findall(part) or [part])
        pieces_lower = [p.lower() for p in pieces]
        if len(pieces_lower) > 1:
            out.append(lower)  # the whole identifier, for exact-name matches
        for piece in pieces_lower:
            if len(piece) >= 2 or piece.isdigit():
                out.append(stem(piece))
    return out


def token_index(term: str) -> int:
    """A stable 31-bit id for a term; collisions are rare enough to ignore at code-base vocabulary sizes."""
    return zlib.crc32(term.encode("utf-8")) & 0x7FFFFFFF


def encode_document(text: str) -> tuple[list[int], list[float]]:
    counts = Counter(terms(text))
    if not counts:
        return [], []
    length = sum(counts.values())
    norm = K1 * (1 - B + B * length / AVG_DOC_TOKENS)
    merged: dict[int, float] = {}
    for term, tf in counts.items():
        idx = token_index(term)
        merged[idx] = merged.get(idx, 0.0) + tf * (K1 + 1) / (tf + norm)
    indices = sorted(merged)
    return indices, [merged[i] for i in indices]


def encode_query(text: str) -> tuple[list[int], list[float]]:
    seen: dict[int, float] = {}
    for term in terms(text):
        if term in QUERY_STOPWORDS:
            continue
        seen[token_index(term)] = 1.0
    indices = sorted(seen)
    return indices, [seen[i] for i in indices]
