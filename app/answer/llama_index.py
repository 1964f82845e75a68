"""The llama-index side of answering: our hybrid search as a `BaseRetriever` and our `ChatModel` as an LLM,
so llama-index's condense prompt and retriever interface drive dayone's own parts."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.custom import CustomLLM
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from pydantic import PrivateAttr

from app.answer.chat_model import ChatModel, Message
from app.answer.flow import FlowStep, follow_flow, follow_on, is_how_question, without_twins
from app.search.rerank import Reranker
from app.search.retriever import Retriever, SearchHit, query_identifiers
from indexer.embedding import sparse
from indexer.store import SearchFilter

# -- llama-index views of our retriever and model ---------------------------------------------------------------


class IndexRetriever(BaseRetriever):
    """dayone's hybrid retrieval behind llama-index's retriever interface.

    Nodes carry the chunk's location in `metadata` and the whole symbol's code as text (a long symbol is
    stored in parts; they are joined back). Every node's metadata also holds `query_similarity`: the best
    cosine similarity between the question and any chunk, and `names_defined`: whether a name written in the
    question is defined in the index. Together they decide whether anything relevant was found.
    """

    def __init__(self, retriever: Retriever, *, k: int = 6, repos: list[str] | None = None,
                 languages: list[str] | None = None, follow_calls: bool = True, reranker: Reranker | None = None,
                 extra: int = 0):
        super().__init__()
        self._retriever = retriever
        self._k = k
        self._extra = extra  # hits after the first k, returned last with metadata "map_only" (app/answer/outline.py)
        self._repos = list(repos) if repos is not None else None  # [] (no access) must not widen to all
        self._languages = languages or None
        self._follow = follow_calls  # "how" questions: add the callees that hold the flow (app/answer/flow.py)
        self._reranker = reranker  # the model reorders the search's top files first (search.rerank)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        query = query_bundle.query_str
        k = self._k + 2 * self._extra  # room for next hits that repeat a source or a step past the flow
        if self._reranker is not None:
            hits = self._reranker.search(self._retriever, query, k=k, repos=self._repos, languages=self._languages)
        else:
            hits = self._retriever.search(query, k=k, repos=self._repos, languages=self._languages)
        hits, extra = self._implementations(hits[:self._k]), hits[self._k:]
        whole = [replace(hit, text=self._full_text(hit)) for hit in hits]  # twins compared by all their code
        kept = {id(h) for h in without_twins(whole)}
        hits, texts = [h for h, w in zip(hits, whole, strict=True) if id(w) in kept], [w.text for w in whole
                                                                                        if id(w) in kept]
        similarity = self._best_similarity(query)
        defined = self._names_defined(query)
        coverage = term_coverage(query, "\n".join(f"{h.path} {h.symbol}\n{t}" for h, t in zip(hits, texts,
                                                                                             strict=True)))
        callers = [""] * len(hits)
        further: list[FlowStep] = []
        if self._follow and hits and is_how_question(query):
            steps = follow_flow(self._retriever, query, hits, repos=self._repos, languages=self._languages,
                                texts=texts)
            known = {id(h): t for h, t in zip(hits, texts, strict=True)}
            hits, callers = [s.hit for s in steps], [s.caller for s in steps]
            texts = [known[id(h)] if id(h) in known else self._full_text(h) for h in hits]
            if self._extra:  # where the flow goes past the sources, for the reading map only
                further = follow_on(self._retriever, query, [replace(s, text=t) for s, t in
                                                             zip(steps, texts, strict=True)],
                                    repos=self._repos, languages=self._languages)
        nodes = []
        for hit, text, caller in zip(hits, texts, callers, strict=True):
            meta = {"repo": hit.repo, "path": hit.path, "start_line": hit.start_line, "end_line": hit.end_line,
                    "symbol": hit.symbol, "kind": hit.kind, "language": hit.language, "called_by": caller,
                    "query_similarity": similarity, "term_coverage": coverage, "names_defined": defined}
            node = TextNode(id_=f"{hit.repo}:{hit.path}:{hit.start_line}-{hit.end_line}", text=text, metadata=meta)
            nodes.append(NodeWithScore(node=node, score=hit.score))
        seen = {n.node.id_ for n in nodes}
        # the next hits list places the map does not name yet (a source's other part, or a step past the flow,
        # would take a slot of the two)
        named = {(h.repo, h.path, h.symbol) for h in [*hits, *(s.hit for s in further)]}
        extra = [h for h in extra if (h.repo, h.path, h.symbol) not in named][:self._extra]
        for hit, step in [*((s.hit, s) for s in further), *((h, None) for h in extra)]:
            meta = {"repo": hit.repo, "path": hit.path, "start_line": hit.start_line, "end_line": hit.end_line,
                    "symbol": hit.symbol, "kind": hit.kind, "language": hit.language, "map_only": True}
            if step is not None:  # around the flow's sources (follow_on): its entry's caller or a call past them
                meta.update(further=True, called_by=step.caller if step.depth >= 0 else "",
                            leads_to=step.caller if step.depth < 0 else "")
            node = TextNode(id_=f"{hit.repo}:{hit.path}:{hit.start_line}-{hit.end_line}", text=hit.text,
                            metadata=meta)
            if node.id_ not in seen:
                nodes.append(NodeWithScore(node=node, score=hit.score))
        return nodes

    def _best_similarity(self, query: str) -> float:
        reader = self._retriever.reader
        assert reader.store is not None
        flt = SearchFilter(repos=self._repos, languages=self._languages)
        dense = reader.store.dense_search(self._retriever.embedder.embed_query(query), 3, flt)
        return max((h.score for h in dense), default=0.0)

    def _names_defined(self, query: str) -> bool:
        code_names, _words = query_identifiers(query)
        if not code_names:
            return False
        manifest = self._retriever.reader.manifest
        plain = [n for n in code_names if "." not in n]
        if plain and manifest.chunks_named(plain, self._repos):
            return True
        return any(manifest.chunks_with_symbol_suffix(n, self._repos) for n in code_names if "." in n)

    def _implementations(self, hits: list[SearchHit]) -> list[SearchHit]:
        """Each hit on a Python `@overload` stub as its implementation, once.

        The stubs are definitions of their own, and search often ranks the first one best: click's
        `BaseCommand.main` hit was ten lines of signature that call nothing, so the model read no step and the
        flow had nothing to follow. The implementation is the longest definition of that name in the file."""
        reader = self._retriever.reader
        out: list[SearchHit] = []
        for hit in hits:
            if hit.kind in ("function", "method") and hit.symbol:
                defs = [d for d in reader.symbols.file_definitions(hit.repo, hit.path)
                        if d.qualified_name == hit.symbol and d.kind == hit.kind]
                impl = max(defs, key=lambda d: (d.end_line - d.start_line, -d.start_line)) if len(defs) > 1 else None
                if impl is not None and (hit.start_line, hit.end_line) != (impl.start_line, impl.end_line):
                    hit = replace(hit, start_line=impl.start_line, end_line=impl.end_line, text="")
            if not any((h.repo, h.path, h.start_line, h.end_line) == (hit.repo, hit.path, hit.start_line,
                                                                       hit.end_line) for h in out):
                out.append(hit)
        return out

    def _full_text(self, hit: SearchHit) -> str:
        """The hit's code; for a symbol split into parts, the parts within its lines joined without their
        repeated headers."""
        span = hit.end_line - hit.start_line + 1
        if len(hit.text.split("\n")) >= span or not hit.symbol:
            return hit.text
        reader = self._retriever.reader
        rows = [r for r in reader.manifest.symbol_parts(hit.repo, hit.path, hit.symbol, hit.kind)
                if hit.start_line <= r[1] and r[2] <= hit.end_line]
        assert reader.store is not None
        texts = {h.id: h.chunk.text for h in reader.store.retrieve([r[0] for r in rows])}
        out: list[str] = []
        last_end: int | None = None
        for cid, start, end in rows:
            if cid not in texts:
                return hit.text
            lines = texts[cid].split("\n")
            body = end - start + 1
            if len(lines) > body:  # a later part starts with the symbol's signature line
                lines = lines[len(lines) - body:]
            if last_end is not None and start <= last_end and out:  # pieces of one over-long line
                out[-1] += lines[0]
                lines = lines[1:]
            elif last_end is not None and start > last_end + 1:
                out.extend([""] * (start - last_end - 1))
            out.extend(lines)
            last_end = end
        return "\n".join(out) if out else hit.text


_WORDS = re.compile(r"[A-Za-z][A-Za-z0-9]+")
_MORE_STOPWORDS = {"happens", "happen", "work", "works", "used", "use", "code", "function", "method", "class",
                   "file", "get", "gets", "done", "make", "made", "handle", "handled", "explain", "tell", "about",
                   "there", "here", "that", "them", "they", "then", "than", "if", "not", "any", "all", "its"}


def term_coverage(query: str, text: str) -> float:
    """The share of the question's content words that occur in `text` (prefix match folds endings:
    "declined" ~ "decline", "reserving" ~ "reserve"). Identifiers in the code count through their pieces."""
    words = [w.lower() for w in _WORDS.findall(query)]
    words = [w for w in words if len(w) >= 3 and w not in sparse.QUERY_STOPWORDS and w not in _MORE_STOPWORDS]
    if not words:
        return 0.0
    hay = " ".join(re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text).lower().replace("_", " ").split())
    found = sum(1 for w in dict.fromkeys(words) if w[: max(4, len(w) - 3)] in hay)
    return found / len(dict.fromkeys(words))


class DayoneLLM(CustomLLM):
    """llama-index's LLM interface over a `ChatModel`: chat goes through the model's own chat template."""

    max_tokens: int = 64
    _model: ChatModel = PrivateAttr()

    def __init__(self, model: ChatModel, max_tokens: int = 64, **kwargs: Any):
        super().__init__(max_tokens=max_tokens, **kwargs)
        self._model = model

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(context_window=self._model.context_size, num_output=self.max_tokens,
                           is_chat_model=True, model_name=self._model.name)

    @staticmethod
    def _messages(messages: Any) -> list[Message]:
        return [{"role": m.role.value if m.role.value in ("system", "user", "assistant") else "user",
                 "content": m.content or ""} for m in messages]

    @llm_chat_callback()
    def chat(self, messages: Any, **kwargs: Any) -> ChatResponse:
        text = self._model.complete(self._messages(messages), self.max_tokens, 0.0)
        return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text))

    @llm_chat_callback()
    def stream_chat(self, messages: Any, **kwargs: Any) -> ChatResponseGen:
        def gen() -> ChatResponseGen:
            text = ""
            for piece in self._model.stream(self._messages(messages), self.max_tokens, 0.0):
                text += piece
                yield ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text), delta=piece)
        return gen()

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text=self._model.complete([{"role": "user", "content": prompt}],
                                                            self.max_tokens, 0.0))

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        def gen() -> CompletionResponseGen:
            text = ""
            for piece in self._model.stream([{"role": "user", "content": prompt}], self.max_tokens, 0.0):
                text += piece
                yield CompletionResponse(text=text, delta=piece)
        return gen()


# -- answering ----------------------------------------------------------------------------------------------------
