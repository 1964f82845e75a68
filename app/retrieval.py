"""Hybrid retrieval over the index: dense + code-aware BM25 + exact symbol names, fused by reciprocal rank.

Each signal fails differently: vectors find paraphrases but miss exact identifiers, BM25 finds identifiers but
not intent, and a name the user typed (`OrderService.pay`, `send_confirmation`) is best answered by the symbol
table. Reciprocal-rank fusion needs no score calibration between them. At most `max_hits_per_file` hits per
file keep one big file from crowding out the rest (as in Tabby).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from indexer import sparse
from indexer.embedding import Embedder
from indexer.generations import IndexReader
from indexer.manifest import ChunkRow
from indexer.settings import SearchSettings
from indexer.store import Hit, SearchFilter

RRF_K = 60
WEIGHT_DENSE = 1.0
WEIGHT_SPARSE = 1.0
WEIGHT_SYMBOL_CODE = 2.0  # an identifier written like code: `pay_order`, `OrderService.pay`, `pay()`
WEIGHT_SYMBOL_WORD = 0.5  # a plain word that happens to name a definition ("checkout")
DOC_KINDS = {"section", "text"}
DOC_PENALTY = 0.85  # prose and config windows rank a little below code at equal evidence
MODULE_PENALTY = 0.75  # imports and module docstrings mention everything a file does, so they match broadly
UNGROUPED_KINDS = {"module", "section", "text"}  # their parts are different regions, not one symbol

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:(?:\.|::|#|->)[A-Za-z_][A-Za-z0-9_]*)*(\s*\()?")
_KIND_ORDER = {"function": 0, "method": 0, "class": 1, "struct": 1, "interface": 1, "trait": 1, "enum": 1}


@dataclass
class SearchHit:
    """One result, in the shape `dayone search --json` prints (a contract for outside tools)."""

    repo: str
    path: str
    start_line: int
    end_line: int
    symbol: str
    kind: str
    language: str
    score: float
    text: str

    def to_json(self) -> dict:
        return asdict(self)


def query_identifiers(query: str) -> tuple[list[str], list[str]]:
    """Split a question's identifiers into code-like ones and plain words that might still be names."""
    code, words = [], []
    for m in _IDENT.finditer(query):
        token = m.group(0).rstrip("( \t")
        dotted = re.split(r"\.|::|#|->", token)
        is_code = (
            len(dotted) > 1
            or "_" in token.strip("_")
            or bool(re.search(r"[a-z][A-Z]", token))
            or bool(m.group(1))
            or (token.isupper() and len(token) > 3)
            or (token[:1].isupper() and any(c.isupper() for c in token[1:]))
        )
        if is_code:
            code.append(".".join(dotted))
            code.append(dotted[-1])
        elif len(token) >= 4 and token.lower() not in sparse.QUERY_STOPWORDS:
            words.append(token)
    return list(dict.fromkeys(code)), list(dict.fromkeys(words))


class Retriever:
    """Searches the published index; one instance serves many queries."""

    def __init__(self, reader: IndexReader, embedder: Embedder, settings: SearchSettings | None = None):
        self.reader = reader
        self.embedder = embedder
        self.settings = settings or SearchSettings()

    def search(self, query: str, *, k: int | None = None, repos: list[str] | None = None,
               languages: list[str] | None = None) -> list[SearchHit]:
        k = k or self.settings.k
        if repos is not None and not repos:  # an empty allow-list (app/access.py) matches nothing, never all
            return []
        store = self.reader.store
        assert store is not None
        flt = SearchFilter(repos=repos or None, languages=languages or None)
        n = max(self.settings.candidates, 3 * k)
        dense = store.dense_search(self.embedder.embed_query(query), n, flt)
        q_idx, q_val = sparse.encode_query(query)
        lexical = store.sparse_search(q_idx, q_val, n, flt) if q_idx else []
        code_names, words = query_identifiers(query)
        symbol_code = self._symbol_rows(code_names, repos, languages, dotted=True)
        symbol_word = self._symbol_rows(words, repos, languages, dotted=False)

        payloads: dict[str, dict] = {h.id: h.payload for h in (*dense, *lexical)}
        missing = list(dict.fromkeys(r.id for r in (*symbol_code, *symbol_word) if r.id not in payloads))
        if missing:
            for hit in store.retrieve(missing):
                payloads[hit.id] = hit.payload

        # A long symbol is split into parts, but it is one answer: fusion ranks whole symbols, each list
        # counting a symbol once at its best-ranked part, and the hit spans the whole symbol.
        # A file's top-level code (imports, constants) is one unit too, so it never takes both of a file's
        # slots.
        def unit(cid: str) -> tuple:
            p = payloads[cid]
            if p.get("kind") == "module" and p.get("symbol"):
                return (p.get("repo"), p.get("path"), p.get("symbol"), "module", "top-level")
            if int(p.get("parts", 1)) > 1 and p.get("kind") not in UNGROUPED_KINDS:
                return (p.get("repo"), p.get("path"), p.get("symbol"), p.get("kind"))
            return (cid,)

        scores: dict[tuple, float] = {}
        best_part: dict[tuple, tuple[float, str]] = {}
        ranked_lists = ((WEIGHT_DENSE, [h.id for h in dense]), (WEIGHT_SPARSE, [h.id for h in lexical]),
                        (WEIGHT_SYMBOL_CODE, [r.id for r in symbol_code]),
                        (WEIGHT_SYMBOL_WORD, [r.id for r in symbol_word]))
        for weight, ids in ranked_lists:
            seen: set[tuple] = set()
            rank = 0
            for cid in ids:
                if cid not in payloads:  # in the manifest but not the store: never show a dangling location
                    continue
                key = unit(cid)
                if key in seen:
                    continue
                seen.add(key)
                contribution = weight / (RRF_K + rank + 1)
                rank += 1
                scores[key] = scores.get(key, 0.0) + contribution
                if contribution > best_part.get(key, (0.0, ""))[0]:
                    best_part[key] = (contribution, cid)
        ranked = []
        for key, score in scores.items():
            cid = best_part[key][1]
            payload = payloads[cid]
            kind = payload.get("kind")
            score *= DOC_PENALTY if kind in DOC_KINDS else MODULE_PENALTY if kind == "module" else 1.0
            if len(key) == 4:
                payload = dict(payload)
                lines = self.reader.manifest.symbol_lines(payload["repo"], payload["path"],
                                                          payload["symbol"], kind)
                if lines:
                    payload["start_line"], payload["end_line"] = lines
            ranked.append((score, cid, payload))
        ranked.sort(key=lambda t: (-t[0], t[2].get("path", ""), t[2].get("start_line", 0)))
        return _cap_per_file(ranked, k, self.settings.max_hits_per_file)

    def _symbol_rows(self, names: list[str], repos: list[str] | None, languages: list[str] | None,
                     *, dotted: bool) -> list[ChunkRow]:
        if not names:
            return []
        manifest = self.reader.manifest
        plain = [n for n in names if "." not in n]
        rows = manifest.chunks_named(plain, repos) if plain else []
        if dotted:
            for name in (n for n in names if "." in n):
                rows += manifest.chunks_with_symbol_suffix(name, repos)
        if languages:
            rows = [r for r in rows if r.language in languages]
        order = {n: i for i, n in enumerate(names)}
        rows.sort(key=lambda r: (
            min(order.get(r.name, 99), min((order[n] for n in order if r.symbol.endswith(n)), default=99)),
            _KIND_ORDER.get(r.kind, 2), r.repo, r.path, r.start_line,
        ))
        return list({r.id: r for r in rows}.values())[:50]


def _cap_per_file(ranked: list[tuple[float, str, dict]], k: int, per_file: int) -> list[SearchHit]:
    hits: list[SearchHit] = []
    per: dict[tuple[str, str], int] = {}
    for score, _cid, p in ranked:
        key = (p.get("repo", ""), p.get("path", ""))
        if per.get(key, 0) >= per_file:
            continue
        per[key] = per.get(key, 0) + 1
        hits.append(SearchHit(repo=p["repo"], path=p["path"], start_line=int(p["start_line"]),
                              end_line=int(p["end_line"]), symbol=p.get("symbol", ""), kind=p.get("kind", ""),
                              language=p.get("language", ""), score=round(score, 6), text=p.get("text", "")))
        if len(hits) == k:
            break
    return hits


__all__ = ["Hit", "Retriever", "SearchHit", "query_identifiers"]
