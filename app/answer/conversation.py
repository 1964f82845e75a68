"""Grounded answers: retrieval -> numbered sources within a token budget -> prompt -> streamed answer -> citations.

One question goes through these steps:

1. A follow-up in a conversation is first rewritten into a standalone question (llama-index's condense prompt,
   run through `DayoneLLM`, the llama-index view of our `ChatModel`); a first question is used as asked.
2. `IndexRetriever`, our hybrid `Retriever` behind llama-index's `BaseRetriever` interface, finds the chunks.
   When the best chunk is not similar enough to the question and no name in it is defined in the index, the
   answer says that nothing relevant was found, without calling the model.
3. The best chunks become numbered sources (`[n] repo:path:Lstart-Lend`, the symbol, the code) until the token
   budget is spent: the model's context size minus the answer's tokens, the instructions, the question and the
   conversation so far.
4. The answer streams. Afterwards every `[n]` is mapped to its source's real location and renumbered in order of
   first use, so `[k]` in the final text is `citations[k-1]`; a citation number that names no source, and any
   file path or code name in the answer that the index does not hold, is flagged: marked "(not in the index)"
   in the text and never turned into a link.

A follow-up keeps the earlier turns, sources included, at the head of the prompt, so llama.cpp reuses the
evaluated prefix; when that no longer fits the budget, the earlier turns are kept as plain questions and answers.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, replace
from typing import Any

from llama_index.core.base.llms.generic_utils import messages_to_history_str
from llama_index.core.base.llms.types import (
    ChatMessage,
    MessageRole,
)
from llama_index.core.chat_engine.condense_question import DEFAULT_PROMPT as CONDENSE_PROMPT
from llama_index.core.schema import NodeWithScore

from app.answer.callgraph import CallGraph
from app.answer.chat_model import ChatModel, Message
from app.answer.citations import check_answer, strip_citations
from app.answer.flow import is_how_question
from app.answer.llama_index import DayoneLLM, IndexRetriever
from app.answer.outline import MAP_EXTRA, add_map, add_users, describe, reading_map
from app.answer.prompts import (
    EXAMPLE_TURN,
    MIN_SOURCE_TOKENS,
    MIN_TERM_COVERAGE,
    NO_CONTEXT_ANSWER,
    RELAXED_SIMILARITY,
    SAFETY_MARGIN,
    SYSTEM_PROMPT,
    question_block,
)
from app.answer.results import Answer, AnswerStream, Source
from app.search.rerank import Reranker
from app.search.retriever import Retriever
from app.settings import Settings
from indexer.embedding.dense import Embedder
from indexer.reader import IndexReader


@dataclass
class Turn:
    question: str
    user_content: str  # exactly what the prompt carried, sources included
    answer: str  # as generated


class LastQueryEmbedder(Embedder):
    """Remembers the last query's vector: retrieval and the relevance check embed the same question."""

    def __init__(self, inner: Embedder):
        self.inner = inner
        self.model_id, self.dim, self.max_tokens = inner.model_id, inner.dim, inner.max_tokens
        self._last: tuple[str, Any] | None = None

    def embed_documents(self, texts: Any) -> Any:
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> Any:
        if self._last is None or self._last[0] != text:
            self._last = (text, self.inner.embed_query(text))
        return self._last[1]

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)


class Answerer:
    """Answers questions from the index with a chat model; one instance serves many questions."""

    def __init__(self, reader: IndexReader, embedder: Embedder, model: ChatModel, settings: Settings, *,
                 reranker: Reranker | None = None):
        self.reader = reader
        self.model = model
        self.settings = settings
        self.retriever = Retriever(reader, LastQueryEmbedder(embedder), settings.search)
        self.reranker = reranker  # the model's rerank of the sources' search (search.rerank), when on

    def ask(self, question: str, *, repos: list[str] | None = None,
            languages: list[str] | None = None) -> AnswerStream:
        """A standalone question (no conversation)."""
        return Conversation(self, repos=repos, languages=languages).ask(question)

    def conversation(self, *, repos: list[str] | None = None, languages: list[str] | None = None) -> Conversation:
        return Conversation(self, repos=repos, languages=languages)


class Conversation:
    """A chat about the code: follow-ups are condensed into standalone questions before retrieval."""

    def __init__(self, answerer: Answerer, *, repos: list[str] | None = None,
                 languages: list[str] | None = None):
        self.answerer = answerer
        self.model = answerer.model
        self.llm_settings = answerer.settings.llm
        self.retriever = IndexRetriever(answerer.retriever, k=self.llm_settings.max_sources, repos=repos,
                                        extra=MAP_EXTRA if self.llm_settings.reading_map else 0,
                                        languages=languages, reranker=answerer.reranker)
        self.condenser = DayoneLLM(self.model, max_tokens=64)
        self.multi_repo = len(answerer.reader.manifest.repos()) > 1
        self.turns: list[Turn] = []
        self.shown: list[Source] = []  # sources in the prompt so far, numbered 1..n
        self._continuing = False  # whether the next prompt can extend the previous one (KV cache reuse)

    def reset(self) -> None:
        self.turns, self.shown, self._continuing = [], [], False

    # -- the steps -------------------------------------------------------------------------------------------
    def condense(self, question: str) -> str:
        """A follow-up rewritten to stand alone, with llama-index's condense prompt; a first question as is."""
        if not self.turns:
            return question
        history = []
        for turn in self.turns[-3:]:
            history.append(ChatMessage(role=MessageRole.USER, content=turn.question))
            history.append(ChatMessage(role=MessageRole.ASSISTANT, content=strip_citations(turn.answer)[:1200]))
        with self.model.aside():  # keep the conversation's evaluated prefix for the answer that follows
            text = self.condenser.predict(CONDENSE_PROMPT, question=question,
                                          chat_history=messages_to_history_str(history))
        standalone = first_line(text)
        return standalone if len(standalone) >= 8 else f"{self.turns[-1].question} {question}"

    def ask(self, question: str) -> AnswerStream:
        timings: dict[str, float] = {}
        started = time.perf_counter()
        standalone = self.condense(question)
        timings["condense_s"] = time.perf_counter() - started
        t = time.perf_counter()
        nodes = self.retriever.retrieve(standalone)
        extra = [n for n in nodes if n.node.metadata.get("map_only")]  # for the reading map only, never the model
        nodes = [n for n in nodes if not n.node.metadata.get("map_only")]
        timings["retrieve_s"] = time.perf_counter() - t
        if not self._relevant(nodes):
            return self._no_context(question, standalone, timings)

        how = is_how_question(standalone)
        messages, sources, reuse = self._build_prompt(question, nodes, how=how)
        max_tokens = self.llm_settings.max_answer_tokens
        t_gen = time.perf_counter()
        pieces = self.model.stream(messages, max_tokens, self.llm_settings.temperature, reuse_prefix=reuse)
        # The reading map follows the prose in the same stream. It is read from the index, so only the prose is
        # checked; the map then cites with the checked prose's numbers (app/answer/outline.py).
        this_turn = {_key(n)[:3] for n in nodes}
        mapped = [s for s in sources if (s.repo, s.path, s.start_line) in this_turn] \
            if self.llm_settings.reading_map else []
        if mapped and extra:  # where else to read: a "how" map lists them apart from the flow's steps
            graph = CallGraph(self.answerer.reader, self.retriever._repos)
            mapped += [replace(_source(n, len(self.shown) + 1 + i, with_repo=self.multi_repo, graph=graph),
                               related=how and not n.node.metadata.get("further"),
                               further=bool(n.node.metadata.get("further"))) for i, n in enumerate(extra)]
        if mapped and not how:  # "what is X for?": where X is used
            add_users(CallGraph(self.answerer.reader, self.retriever._repos), mapped, standalone)
        outline = reading_map(mapped, how=how)

        def finish(raw: str) -> Answer:
            stats = self.model.last_stats
            timings.update(first_token_s=stats.first_token_s, generate_s=time.perf_counter() - t_gen,
                           prompt_tokens=stats.prompt_tokens, completion_tokens=stats.completion_tokens,
                           tokens_per_s=stats.tokens_per_s)
            prose = raw[:len(raw) - len(outline)] if outline and raw.endswith(outline) else raw
            answer = check_answer(question, standalone, prose, self.shown, self.answerer.reader,
                                  self.retriever._repos)
            add_map(answer, mapped, how=how)
            answer.raw_text = raw  # what was streamed: the model's prose, then the map
            answer.sources = sources
            answer.timings = timings
            self.turns.append(Turn(question, messages[-1]["content"], prose))
            self._continuing = True
            return answer

        return AnswerStream(_then(pieces, outline), finish, sources)

    def _relevant(self, nodes: list[NodeWithScore]) -> bool:
        if not nodes:
            return False
        meta = nodes[0].node.metadata
        similarity, floor = meta.get("query_similarity", 0.0), self.llm_settings.min_similarity
        # A name from the question defined in the index, a close paraphrase, or a looser one whose words
        # the retrieved code mostly contains ("what if the card is declined": `declined`, `card_token`).
        return bool(meta.get("names_defined")) or similarity >= floor or (
            similarity >= floor - RELAXED_SIMILARITY and meta.get("term_coverage", 0.0) >= MIN_TERM_COVERAGE)

    def _no_context(self, question: str, standalone: str, timings: dict[str, float]) -> AnswerStream:
        answer = Answer(question=question, standalone_question=standalone, text=NO_CONTEXT_ANSWER,
                        raw_text=NO_CONTEXT_ANSWER, citations=[], cited_numbers=[], sources=[], flagged=[],
                        no_context=True, timings=timings)
        self.turns.append(Turn(question, f"Question: {question}", NO_CONTEXT_ANSWER))
        self._continuing = False
        return AnswerStream(iter([NO_CONTEXT_ANSWER]), lambda _raw: answer, [])

    def _build_prompt(self, question: str, nodes: list[NodeWithScore], *,
                      how: bool = False) -> tuple[list[Message], list[Source], bool]:
        """Messages for this turn within the token budget, the sources they carry, and whether the prompt
        extends the previous one (so the model may reuse its evaluated prefix)."""
        model = self.model
        budget = model.context_size - self.llm_settings.max_answer_tokens - SAFETY_MARGIN
        graph = CallGraph(self.answerer.reader, self.retriever._repos)  # what each source calls (outline.py)
        head: list[Message] = [{"role": "system", "content": SYSTEM_PROMPT}, *EXAMPLE_TURN]
        tail = question_block(question, how)
        if self.turns and self._continuing:
            history: list[Message] = []
            for turn in self.turns:
                history += [{"role": "user", "content": turn.user_content},
                            {"role": "assistant", "content": turn.answer}]
            room = budget - model.count_messages([*head, *history]) - model.count_tokens(tail)
            if room >= 2 * MIN_SOURCE_TOKENS:
                known = {(s.repo, s.path, s.start_line, s.end_line) for s in self.shown}
                fresh = [n for n in nodes if _key(n) not in known]
                new = _fit_sources(fresh, model, room, first_number=len(self.shown) + 1,
                                   with_repo=self.multi_repo, graph=graph, show_calls=how)
                content = (f"More sources:\n\n{_blocks(new)}\n\n" if new else "") + tail
                self.shown += new
                return [*head, *history, {"role": "user", "content": content}], self.shown[:], True
        # A first question, or one whose predecessors no longer fit: earlier turns as plain text.
        history = []
        for turn in reversed(self.turns):
            pair: list[Message] = [{"role": "user", "content": turn.question},
                                   {"role": "assistant", "content": strip_citations(turn.answer)}]
            if model.count_messages([*pair, *history]) > budget // 4:
                break
            history = pair + history
        room = budget - model.count_messages([*head, *history]) - model.count_tokens(tail)
        sources = _fit_sources(nodes, model, room, first_number=1, with_repo=self.multi_repo, graph=graph,
                               show_calls=how)
        self.shown = sources
        content = f"Sources:\n\n{_blocks(sources)}\n\n{tail}"
        return [*head, *history, {"role": "user", "content": content}], sources[:], False


def _key(node: NodeWithScore) -> tuple:
    m = node.node.metadata
    return (m["repo"], m["path"], m["start_line"], m["end_line"])


def _then(pieces: Any, last: str) -> Any:
    """The model's pieces, then `last` (the reading map) as one more piece."""
    yield from pieces
    if last:
        yield last


def _blocks(sources: list[Source]) -> str:
    return "\n\n".join(s.block() for s in sources)


def _source(node: NodeWithScore, number: int, *, with_repo: bool, graph: CallGraph | None,
            show_calls: bool = False) -> Source:
    """A retrieved node as a numbered source; with `graph`, knowing what its lines call (outline.py)."""
    m = node.node.metadata
    src = Source(number=number, repo=m["repo"], path=m["path"], start_line=int(m["start_line"]),
                 end_line=int(m["end_line"]), symbol=m.get("symbol", ""), kind=m.get("kind", ""),
                 language=m.get("language", ""), text=node.node.get_content(), score=float(node.score or 0.0),
                 with_repo=with_repo, called_by=m.get("called_by", ""), show_calls=show_calls,
                 leads_to=m.get("leads_to", ""))
    if graph is not None:
        describe(graph, src)
    return src


def _fit_sources(nodes: list[NodeWithScore], model: ChatModel, budget: int, *, first_number: int,
                 with_repo: bool = False, graph: CallGraph | None = None, show_calls: bool = False) -> list[Source]:
    """Sources in rank order while they fit `budget` tokens; a long one is cut at a line to fill the rest.
    With `graph`, each source knows what its lines call (for the reading map; in its header with
    `show_calls`: measured with the 0.5B, a header naming `reserve_stock` under `OrderService.create_order`
    made it answer "OrderService.reserve_stock", so only a "how" question's headers name calls)."""
    sources: list[Source] = []
    used = model.count_tokens("Sources:\n\n")
    for node in nodes:
        src = _source(node, first_number + len(sources), with_repo=with_repo, graph=graph, show_calls=show_calls)
        cost = model.count_tokens(src.block()) + 2
        if used + cost <= budget:
            sources.append(src)
            used += cost
            continue
        room = budget - used
        if room < MIN_SOURCE_TOKENS:
            continue
        lines = src.text.split("\n")
        while len(lines) > 1:  # cut to the lines that fit; the location shrinks with them, so it stays true
            lines = lines[: max(1, int(len(lines) * 0.8))]
            src.text = "\n".join(lines)
            src.end_line = src.start_line + len(lines) - 1
            if graph is not None:
                describe(graph, src)
            cost = model.count_tokens(src.block()) + 2
            if cost <= room:
                sources.append(src)
                used += cost
                break
    return sources


def first_line(text: str) -> str:
    for line in text.strip().splitlines():
        line = re.sub(r"^(?:<?standalone question>?|question)\s*:\s*", "", line.strip(), flags=re.I).strip(' "\'`*')
        if line:
            return line[:400]
    return ""


# -- checking the answer ------------------------------------------------------------------------------------------

# [1], [1, 2], [1-3], [Source 2], [sources 1 and 4]
