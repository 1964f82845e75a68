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
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.llms.generic_utils import messages_to_history_str
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.chat_engine.condense_question import DEFAULT_PROMPT as CONDENSE_PROMPT
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.custom import CustomLLM
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from pydantic import PrivateAttr

from app.llm import ChatModel, Message
from app.retrieval import Retriever, SearchHit, query_identifiers
from indexer import sparse
from indexer.embedding import Embedder
from indexer.generations import IndexReader
from indexer.settings import Settings
from indexer.store import SearchFilter

# Measured with Qwen2.5-Coder-0.5B: it cites [n] reliably only after one worked example (a short exchange about
# an unrelated codebase, placed before the real question), and copies a source header verbatim when the header
# looks like "[1] repo:path:L1-L9"; "Source [1]: method Class.name in path, lines 1-9" it does not copy.
SYSTEM_PROMPT = (
    "You are dayone, an assistant that explains a codebase to an engineer who is new to it. You answer from "
    "the numbered sources you are given, which are excerpts of the code. You never invent file names, "
    "functions or line numbers."
)
ANSWER_RULES = (
    "Answer in one to three sentences. Name the function or method and the file it is in, and cite each source "
    "you use by its number in square brackets, like [1]. If the sources do not answer the question, say so."
)
EXAMPLE_TURN: list[dict[str, str]] = [
    {"role": "user", "content": (
        "Sources:\n\nSource [1]: function load_config in app/config.py, lines 3-9\n```python\n"
        "def load_config(path):\n    \"\"\"Read the settings file.\"\"\"\n    with open(path) as fh:\n"
        "        return toml.load(fh)\n```\n\nSource [2]: method UserStore.save in app/users.py, lines 20-31\n"
        "```python\n    def save(self, user):\n        \"\"\"Insert or update a user.\"\"\"\n"
        "        with self.db.transaction() as tx:\n            tx.execute(\"INSERT INTO users ...\", user.row())\n"
        "```\n\nQuestion: where are users saved?\n" + ANSWER_RULES)},
    {"role": "assistant", "content": (
        "Users are saved by the `UserStore.save` method in app/users.py [2].")},
]
NO_CONTEXT_ANSWER = (
    "I found nothing in the index that is relevant to this question, so I will not guess. Try the names of "
    "functions, files or terms used in the code, or check `dayone status` for what is indexed."
)
NOT_INDEXED = " (not in the index)"
RELAXED_SIMILARITY = 0.15  # how far below llm.min_similarity a question may be when its words are in the code
MIN_TERM_COVERAGE = 0.6
SAFETY_MARGIN = 48  # tokens kept free for template markers the count cannot see
MIN_SOURCE_TOKENS = 96  # a source cut shorter than this says too little to be worth its header

# -- the result ---------------------------------------------------------------------------------------------------


@dataclass
class Source:
    """One numbered excerpt in the prompt: a real location in the index and its code."""

    number: int
    repo: str
    path: str
    start_line: int
    end_line: int
    symbol: str
    kind: str
    language: str
    text: str
    score: float = 0.0
    with_repo: bool = False  # name the repository in the prompt (when more than one is indexed)

    @property
    def location(self) -> str:
        return f"{self.repo}:{self.path}:L{self.start_line}-L{self.end_line}"

    @property
    def short_name(self) -> str:
        """`OrderService.pay` for a method, `reserve_stock` for a function, the heading for a section."""
        if not self.symbol or self.kind == "module":
            return ""
        if "#" in self.symbol:
            return self.symbol.split("#", 1)[1]
        parts = self.symbol.split(".")
        return ".".join(parts[-2:]) if self.kind == "method" and len(parts) > 1 else parts[-1]

    def block(self) -> str:
        where = f"{self.repo}:{self.path}" if self.with_repo else self.path
        what = f"{self.kind} {self.short_name} in " if self.short_name else ""
        return (f"Source [{self.number}]: {what}{where}, lines {self.start_line}-{self.end_line}\n"
                f"```{self.language}\n{self.text.rstrip()}\n```")

    def citation_json(self) -> dict:
        return {"repo": self.repo, "path": self.path, "start_line": self.start_line, "end_line": self.end_line,
                "symbol": self.symbol}


@dataclass(frozen=True)
class Flag:
    """Something the answer names that the index does not hold."""

    text: str
    kind: str  # "path" or "symbol" (not in the index), "citation" (names no source, or dropped)
    reason: str


@dataclass
class Answer:
    question: str
    standalone_question: str
    text: str  # final: citations renumbered to match `citations`, unknown names marked
    raw_text: str  # as the model wrote it (what was streamed)
    citations: list[Source]  # the sources the answer cites, in order of first citation
    cited_numbers: list[int]  # their numbers in the prompt (and in the streamed text)
    sources: list[Source]  # every source the prompt carried
    flagged: list[Flag]
    no_context: bool = False
    timings: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict:
        """The `dayone ask --json` contract."""
        return {"question": self.question, "answer": self.text,
                "citations": [c.citation_json() for c in self.citations]}


class AnswerStream:
    """Iterate for the answer's text as it is generated; `answer` holds the checked result afterwards."""

    def __init__(self, pieces: Iterator[str], finish: Any, sources: list[Source]):
        self._pieces = pieces
        self._finish = finish
        self.sources = sources
        self._answer: Answer | None = None

    def __iter__(self) -> Iterator[str]:
        if self._answer is not None:
            return
        collected: list[str] = []
        for piece in self._pieces:
            collected.append(piece)
            yield piece
        self._answer = self._finish("".join(collected))

    @property
    def answer(self) -> Answer:
        if self._answer is None:
            for _ in self:
                pass
        assert self._answer is not None
        return self._answer


# -- llama-index views of our retriever and model ---------------------------------------------------------------


class IndexRetriever(BaseRetriever):
    """dayone's hybrid retrieval behind llama-index's retriever interface.

    Nodes carry the chunk's location in `metadata` and the whole symbol's code as text (a long symbol is
    stored in parts; they are joined back). Every node's metadata also holds `query_similarity`: the best
    cosine similarity between the question and any chunk, and `names_defined`: whether a name written in the
    question is defined in the index. Together they decide whether anything relevant was found.
    """

    def __init__(self, retriever: Retriever, *, k: int = 6, repos: list[str] | None = None,
                 languages: list[str] | None = None):
        super().__init__()
        self._retriever = retriever
        self._k = k
        self._repos = list(repos) if repos is not None else None  # [] (no access) must not widen to all
        self._languages = languages or None

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        query = query_bundle.query_str
        hits = self._retriever.search(query, k=self._k, repos=self._repos, languages=self._languages)
        similarity = self._best_similarity(query)
        defined = self._names_defined(query)
        texts = [self._full_text(hit) for hit in hits]
        coverage = term_coverage(query, "\n".join(f"{h.path} {h.symbol}\n{t}" for h, t in zip(hits, texts,
                                                                                             strict=True)))
        nodes = []
        for hit, text in zip(hits, texts, strict=True):
            meta = {"repo": hit.repo, "path": hit.path, "start_line": hit.start_line, "end_line": hit.end_line,
                    "symbol": hit.symbol, "kind": hit.kind, "language": hit.language,
                    "query_similarity": similarity, "term_coverage": coverage, "names_defined": defined}
            node = TextNode(id_=f"{hit.repo}:{hit.path}:{hit.start_line}-{hit.end_line}", text=text, metadata=meta)
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

    def _full_text(self, hit: SearchHit) -> str:
        """The hit's code; for a symbol split into parts, all parts joined without their repeated headers."""
        span = hit.end_line - hit.start_line + 1
        if len(hit.text.split("\n")) >= span or not hit.symbol:
            return hit.text
        reader = self._retriever.reader
        rows = reader.manifest.symbol_parts(hit.repo, hit.path, hit.symbol, hit.kind)
        assert reader.store is not None
        texts = {h.id: h.payload.get("text", "") for h in reader.store.retrieve([r[0] for r in rows])}
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


@dataclass
class _Turn:
    question: str
    user_content: str  # exactly what the prompt carried, sources included
    answer: str  # as generated


class _LastQueryEmbedder(Embedder):
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

    def __init__(self, reader: IndexReader, embedder: Embedder, model: ChatModel, settings: Settings):
        self.reader = reader
        self.model = model
        self.settings = settings
        self.search = Retriever(reader, _LastQueryEmbedder(embedder), settings.search)

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
        self.retriever = IndexRetriever(answerer.search, k=self.llm_settings.max_sources, repos=repos,
                                        languages=languages)
        self.condenser = DayoneLLM(self.model, max_tokens=64)
        self.multi_repo = len(answerer.reader.manifest.repos()) > 1
        self.turns: list[_Turn] = []
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
            history.append(ChatMessage(role=MessageRole.ASSISTANT, content=_strip_citations(turn.answer)[:1200]))
        with self.model.aside():  # keep the conversation's evaluated prefix for the answer that follows
            text = self.condenser.predict(CONDENSE_PROMPT, question=question,
                                          chat_history=messages_to_history_str(history))
        standalone = _first_line(text)
        return standalone if len(standalone) >= 8 else f"{self.turns[-1].question} {question}"

    def ask(self, question: str) -> AnswerStream:
        timings: dict[str, float] = {}
        started = time.perf_counter()
        standalone = self.condense(question)
        timings["condense_s"] = time.perf_counter() - started
        t = time.perf_counter()
        nodes = self.retriever.retrieve(standalone)
        timings["retrieve_s"] = time.perf_counter() - t
        if not self._relevant(nodes):
            return self._no_context(question, standalone, timings)

        messages, sources, reuse = self._build_prompt(question, nodes)
        max_tokens = self.llm_settings.max_answer_tokens
        t_gen = time.perf_counter()
        pieces = self.model.stream(messages, max_tokens, self.llm_settings.temperature, reuse_prefix=reuse)

        def finish(raw: str) -> Answer:
            stats = self.model.last_stats
            timings.update(first_token_s=stats.first_token_s, generate_s=time.perf_counter() - t_gen,
                           prompt_tokens=stats.prompt_tokens, completion_tokens=stats.completion_tokens,
                           tokens_per_s=stats.tokens_per_s)
            answer = check_answer(question, standalone, raw, self.shown, self.answerer.reader,
                                  self.retriever._repos)
            answer.sources = sources
            answer.timings = timings
            self.turns.append(_Turn(question, messages[-1]["content"], raw))
            self._continuing = True
            return answer

        return AnswerStream(pieces, finish, sources)

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
        self.turns.append(_Turn(question, f"Question: {question}", NO_CONTEXT_ANSWER))
        self._continuing = False
        return AnswerStream(iter([NO_CONTEXT_ANSWER]), lambda _raw: answer, [])

    def _build_prompt(self, question: str, nodes: list[NodeWithScore]) -> tuple[list[Message], list[Source], bool]:
        """Messages for this turn within the token budget, the sources they carry, and whether the prompt
        extends the previous one (so the model may reuse its evaluated prefix)."""
        model = self.model
        budget = model.context_size - self.llm_settings.max_answer_tokens - SAFETY_MARGIN
        head: list[Message] = [{"role": "system", "content": SYSTEM_PROMPT}, *EXAMPLE_TURN]
        tail = _question_block(question)
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
                                   with_repo=self.multi_repo)
                content = (f"More sources:\n\n{_blocks(new)}\n\n" if new else "") + tail
                self.shown += new
                return [*head, *history, {"role": "user", "content": content}], self.shown[:], True
        # A first question, or one whose predecessors no longer fit: earlier turns as plain text.
        history = []
        for turn in reversed(self.turns):
            pair: list[Message] = [{"role": "user", "content": turn.question},
                                   {"role": "assistant", "content": _strip_citations(turn.answer)}]
            if model.count_messages([*pair, *history]) > budget // 4:
                break
            history = pair + history
        room = budget - model.count_messages([*head, *history]) - model.count_tokens(tail)
        sources = _fit_sources(nodes, model, room, first_number=1, with_repo=self.multi_repo)
        self.shown = sources
        content = f"Sources:\n\n{_blocks(sources)}\n\n{tail}"
        return [*head, *history, {"role": "user", "content": content}], sources[:], False


def _key(node: NodeWithScore) -> tuple:
    m = node.node.metadata
    return (m["repo"], m["path"], m["start_line"], m["end_line"])


def _question_block(question: str) -> str:
    return f"Question: {question}\n{ANSWER_RULES}"


def _blocks(sources: list[Source]) -> str:
    return "\n\n".join(s.block() for s in sources)


def _fit_sources(nodes: list[NodeWithScore], model: ChatModel, budget: int, *, first_number: int,
                 with_repo: bool = False) -> list[Source]:
    """Sources in rank order while they fit `budget` tokens; a long one is cut at a line to fill the rest."""
    sources: list[Source] = []
    used = model.count_tokens("Sources:\n\n")
    for node in nodes:
        m = node.node.metadata
        src = Source(number=first_number + len(sources), repo=m["repo"], path=m["path"],
                     start_line=int(m["start_line"]), end_line=int(m["end_line"]), symbol=m.get("symbol", ""),
                     kind=m.get("kind", ""), language=m.get("language", ""), text=node.node.get_content(),
                     score=float(node.score or 0.0), with_repo=with_repo)
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
            cost = model.count_tokens(src.block()) + 2
            if cost <= room:
                sources.append(src)
                used += cost
                break
    return sources


def _first_line(text: str) -> str:
    for line in text.strip().splitlines():
        line = re.sub(r"^(?:<?standalone question>?|question)\s*:\s*", "", line.strip(), flags=re.I).strip(' "\'`*')
        if line:
            return line[:400]
    return ""


# -- checking the answer ------------------------------------------------------------------------------------------

# [1], [1, 2], [1-3], [Source 2], [sources 1 and 4]
_CITATION = re.compile(r"\[\s*(?:sources?\s*)?(\d+(?:\s*(?:,|;|-|–|and)\s*(?:sources?\s*)?\d+)*)\s*\]", re.I)
_LOCATION = re.compile(r"\[?`?(?:(?P<repo>[A-Za-z0-9][\w.-]*):)?(?P<path>[\w./-]+\.[A-Za-z0-9]+):L?(?P<start>\d+)"
                       r"(?:\s*-\s*L?(?P<end>\d+))?`?\]?")
_FENCE = re.compile(r"```.*?(?:```|\Z)", re.S)
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.I)
_EXTENSIONS = ("py|pyi|ts|tsx|js|jsx|mjs|go|rs|java|kt|kts|rb|php|c|h|cc|cpp|hpp|cs|swift|scala|sql|md|rst|"
               "toml|yaml|yml|json|sh|bash|html|css|scss|proto|txt|cfg|ini|mod")
# A file path is only recognised with an extension, so "and/or" or a URL route is never taken for one.
_PATH = re.compile(rf"(?<![\w/.:-])(?:(?P<repo>[A-Za-z0-9][\w.-]*):)?(?P<path>(?:[\w.-]+/)*[\w-][\w.-]*"
                   rf"\.(?:{_EXTENSIONS}))(?::L?\d+(?:-L?\d+)?)?(?![\w/])")
_BACKTICKS = re.compile(r"`([^`\n]+)`")
_CODE_HEAD = re.compile(r"^[A-Za-z_$][\w$]*(?:(?:\.|::|#|->)[A-Za-z_$][\w$]*)*")
_CODE_WORD = re.compile(r"(?<![\w.$/`])[A-Za-z_$][\w$]*(?:(?:\.|::|->)[A-Za-z_$][\w$]*)*(?:\(\))?")
_TYPE_KINDS = {"class", "struct", "interface", "trait", "enum", "type", "protocol", "object", "module_type"}
_COMMON = {
    "none", "true", "false", "null", "nil", "undefined", "self", "this", "cls", "super", "str", "int", "float",
    "bool", "dict", "list", "tuple", "set", "bytes", "string", "number", "boolean", "void", "any", "error",
    "err", "ctx", "context", "async", "await", "return", "def", "class", "func", "function", "const", "let",
    "var", "import", "from", "select", "insert", "update", "delete", "where", "into", "values", "begin",
    "commit", "rollback", "transaction", "raise", "try", "except", "with", "yield", "print", "len", "range",
    "exception", "valueerror", "typeerror", "keyerror", "object", "promise", "map", "array", "json", "http",
    "https", "get", "post", "put", "patch", "fmt", "main", "init", "__init__", "args", "kwargs", "node.js",
    "vue.js", "next.js", "react.js", "express.js",
}


def check_answer(question: str, standalone: str, raw: str, shown: list[Source], reader: IndexReader,
                 repos: list[str] | None = None) -> Answer:
    """Map the answer's citations to real locations and flag what the index does not hold.

    Citations are `[n]` (also `[1, 2]`, `[1-3]`, `[Source 2]`) or a copied source header. A sentence without
    one that names a source's symbol or file cites that source: small models often name the function and
    file but forget the number. The final text numbers citations by first use ([k] is `citations[k-1]`).
    A number that names no source becomes "[?]"; a path or code name the index does not hold is marked
    "(not in the index)"; both are listed in `flagged`.
    """
    by_number = {s.number: s for s in shown}
    by_location = {(s.path, s.start_line): s for s in shown}
    flags: list[Flag] = []
    cites: list[tuple[int, int, list[int], bool]] = []  # start, end, source numbers, inserted (implicit)
    occupied: list[tuple[int, int]] = [(m.start(), m.end()) for m in _FENCE.finditer(raw)]
    for m in _CITATION.finditer(raw):
        if not _overlaps(m.start(), m.end(), occupied):
            cites.append((m.start(), m.end(), _expand(m.group(1)), False))
    for m in _LOCATION.finditer(raw):  # a source's header copied as a citation: "[api/orders.py:L64-L92]"
        src = by_location.get((m.group("path"), int(m.group("start"))))
        if src is not None and m.group(0).startswith("[") and not _overlaps(m.start(), m.end(), occupied + [
                (c[0], c[1]) for c in cites]):
            cites.append((m.start(), m.end(), [src.number], False))
    occupied += [(c[0], c[1]) for c in cites]

    index = _IndexNames(reader, shown, repos)
    marks: list[tuple[int, int, str]] = []
    mentioned: list[tuple[int, str, str, list[int]]] = []  # position, text, kind, sources it refers to
    for start, end, text, kind in _mentions(raw, occupied):
        reason = index.path_problem(text) if kind == "path" else index.symbol_problem(text)
        if reason:
            if not any(f.text == text and f.kind == kind for f in flags):
                flags.append(Flag(text, kind, reason))
            marks.append((end, end, NOT_INDEXED))
        else:
            mentioned.append((start, text, kind, _referred(text, kind, shown)))
    # A sentence's citations must agree with what it names: the sources of the functions and files it names
    # come first, a number whose source holds none of those names is dropped (small models copy numbers from
    # the example or cite a neighbour), and a sentence that names a source but cites nothing cites it.
    fences = [(m.start(), m.end()) for m in _FENCE.finditer(raw)]
    for start, end in _sentences(raw, fences):
        here = [(text, kind, found) for pos, text, kind, found in mentioned if start <= pos < end]
        names = [text for text, _kind, _found in here]
        refs: list[int] = []
        for _text, kind, found in sorted(here, key=lambda m: m[1] == "path"):  # names, then files not covered
            if kind == "path" and any(by_number[n].path == by_number[f].path for n in refs for f in found):
                continue
            refs += [n for n in found if n not in refs]
        if not refs:
            continue
        inside = [i for i, c in enumerate(cites) if start <= c[0] < end]
        if not inside:
            at = end - 1 if raw[end - 1] in ".!?:;," else end
            cites.append((at, at, refs, True))
            continue
        for j, i in enumerate(inside):
            c_start, c_end, numbers, inserted = cites[i]
            kept = [n for n in numbers if n in refs or (n in by_number and _supports(by_number[n], names))
                    or n not in by_number]
            for n in numbers:
                if n not in kept:
                    flags.append(Flag(f"[{n}]", "citation", f"dropped: source [{n}] "
                                      f"({by_number[n].location}) holds nothing its sentence names"))
            cites[i] = (c_start, c_end, (refs + [n for n in kept if n not in refs]) if j == 0 else
                        [n for n in kept if n not in refs], inserted)

    order: list[int] = []
    edits = list(marks)
    for start, end, numbers, inserted in sorted(cites, key=lambda c: c[0]):
        parts = []
        for n in numbers:
            if n in by_number:
                if n not in order:
                    order.append(n)
                parts.append(f"[{order.index(n) + 1}]")
            else:
                flags.append(Flag(f"[{n}]", "citation", f"there is no source [{n}]"))
                parts.append("[?]")
        if not parts and not inserted and start > 0 and raw[start - 1] == " ":
            start -= 1  # a dropped citation takes its leading space with it
        edits.append((start, end, (" " if inserted else "") + "".join(parts)))
    final = _apply(raw, edits).strip()
    citations = [by_number[n] for n in order]
    return Answer(question=question, standalone_question=standalone, text=final, raw_text=raw,
                  citations=citations, cited_numbers=order[:], sources=list(shown), flagged=flags)


def _supports(src: Source, names: list[str]) -> bool:
    """Whether a source holds one of the names a sentence mentions (its path, symbol or code)."""
    hay = f"{src.path}\n{src.symbol}\n{src.text}"
    for name in names:
        bare = name.rpartition(":")[2] if "/" in name else name.removesuffix("()")
        last = re.split(r"\.|::|#|->", bare)[-1]
        if bare in hay or (len(last) >= 3 and re.search(rf"(?<![\w$]){re.escape(last)}(?![\w$])", hay)):
            return True
    return False


def _referred(text: str, kind: str, shown: list[Source]) -> list[int]:
    """The sources a valid mention names: a symbol's definition, else the first source in a named file."""
    if kind == "path":
        path = text.rpartition(":")[2].lstrip("./")
        return [next(s.number for s in shown if s.path == path or s.path.endswith("/" + path))] if any(
            s.path == path or s.path.endswith("/" + path) for s in shown) else []
    name = text.removesuffix("()")
    last = re.split(r"\.|::|#|->", name)[-1]
    if len(last) < 3:
        return []
    exact = [s.number for s in shown if s.short_name and (s.short_name == name or s.symbol.endswith("." + name))]
    if exact:
        return exact[:1]
    return [s.number for s in shown if s.short_name and re.split(r"\.|#", s.symbol)[-1] == last][:1]


def _sentences(raw: str, code_spans: list[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    """(start, end) of each sentence or line of prose; fenced code blocks are skipped."""
    for line in re.finditer(r"[^\n]+", raw):
        start = line.start()
        for m in re.finditer(r"(?<=[.!?])\s+(?=[A-Z`*\[(])", line.group(0)):
            end = line.start() + m.start()
            if not _overlaps(start, end, code_spans) and raw[start:end].strip():
                yield start, end
            start = line.start() + m.end()
        end = line.end()
        while end > start and raw[end - 1].isspace():
            end -= 1
        if end > start and not _overlaps(start, end, code_spans):
            yield start, end


def _expand(group: str) -> list[int]:
    numbers: list[int] = []
    for a, sep, b in re.findall(r"(\d+)\s*(?:(-|–)\s*(?:sources?\s*)?(\d+))?", group, flags=re.I):
        if sep and b and 0 < int(b) - int(a) < 20:
            numbers.extend(range(int(a), int(b) + 1))
        else:
            numbers.append(int(a))
    return list(dict.fromkeys(numbers))


def _overlaps(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    return any(start < e and s < end for s, e in spans)


def _apply(text: str, edits: list[tuple[int, int, str]]) -> str:
    """Apply non-overlapping (start, end, replacement) edits; inserts at one position keep their list order."""
    indexed = sorted(enumerate(edits), key=lambda e: (e[1][0], e[1][1], e[0]), reverse=True)
    for _i, (start, end, new) in indexed:
        text = text[:start] + new + text[end:]
    return text


def _mentions(raw: str, occupied: list[tuple[int, int]]) -> Iterator[tuple[int, int, str, str]]:
    """(start, end, text, kind) of each file path and code name the answer mentions; `end` is where a
    "(not in the index)" mark goes (after the closing backtick for code spans)."""
    taken = list(occupied)
    for m in _URL.finditer(raw):
        taken.append((m.start(), m.end()))
    # Code spans first: `api/orders.py`, `OrderService.pay()`.
    for m in _BACKTICKS.finditer(raw):
        if _overlaps(m.start(), m.end(), taken):
            continue
        inner = m.group(1).strip()
        taken.append((m.start(), m.end()))
        pm = _PATH.fullmatch(inner)
        if pm:
            path = pm.group("path")
            yield m.start(), m.end(), f"{pm.group('repo')}:{path}" if pm.group("repo") else path, "path"
            continue
        head = _CODE_HEAD.match(inner)
        if head and (head.end() == len(inner) or inner[head.end():].lstrip().startswith("(")):
            yield m.start(), m.end(), head.group(0), "symbol"
    # Paths in prose.
    for m in _PATH.finditer(raw):
        if _overlaps(m.start(), m.end(), taken):
            continue
        path = m.group("path")
        if path.lower() in _COMMON:
            continue
        taken.append((m.start(), m.end()))
        text = f"{m.group('repo')}:{path}" if m.group("repo") else path
        yield m.start(), m.end(), text, "path"
    # Code-like names in prose: dotted, snake_case, camelCase, or called().
    for m in _CODE_WORD.finditer(raw):
        if _overlaps(m.start(), m.end(), taken):
            continue
        word = m.group(0)
        bare = word.removesuffix("()")
        parts = re.split(r"\.|::|->", bare)
        code_like = (
            word.endswith("()")
            or (len(parts) > 1 and all(len(p) >= 2 for p in parts) and not bare.replace(".", "").isdigit())
            or "_" in bare.strip("_")
            or bool(re.search(r"^[a-z]+[A-Z]", bare))
        )
        if code_like:
            yield m.start(), m.end(), bare, "symbol"


class _IndexNames:
    """Answers "is this path / name in the index?" from the manifest and the sources the prompt carried."""

    def __init__(self, reader: IndexReader, shown: list[Source], repos: list[str] | None):
        self.reader = reader
        self.repos = repos
        self.source_text = "\n".join(f"{s.path}\n{s.symbol}\n{s.text}" for s in shown)
        self._files: dict[str, set[str]] | None = None

    def files(self) -> dict[str, set[str]]:
        if self._files is None:
            manifest = self.reader.manifest
            names = [r.name for r in manifest.repos() if not self.repos or r.name in self.repos]
            self._files = {name: set(manifest.files(name)) for name in names}
        return self._files

    def path_problem(self, text: str) -> str | None:
        repo, _, path = text.rpartition(":") if ":" in text else ("", "", text)
        path = path.lstrip("./")
        repos = self.files()
        candidates = {repo: repos[repo]} if repo in repos else repos
        if repo and repo not in repos:
            return f"no indexed repository is named {repo!r}"
        for files in candidates.values():
            if path in files or any(f.endswith("/" + path) for f in files):
                return None
            if any(f.startswith(path.rstrip("/") + "/") for f in files):  # a directory
                return None
        return "no indexed file has this path"

    def symbol_problem(self, name: str) -> str | None:
        if name.lower() in _COMMON or len(name) < 3:
            return None
        if re.search(rf"(?<![\w$]){re.escape(name)}(?![\w$])", self.source_text):
            return None
        parts = [p for p in re.split(r"\.|::|#|->", name) if p]
        last = parts[-1]
        manifest = self.reader.manifest
        defined = bool(manifest.chunks_named([last], self.repos)) or bool(self.reader.symbols.known_names([last]))
        if not defined and not re.search(rf"(?<![\w$]){re.escape(last)}(?![\w$])", self.source_text):
            return "no indexed definition or source has this name"
        if len(parts) > 1:
            if manifest.chunks_with_symbol_suffix(".".join(parts[-2:]), self.repos):
                return None
            owners = [r for r in manifest.chunks_named([parts[-2]], self.repos) if r.kind in _TYPE_KINDS]
            if owners:  # `OrderService.reserve_stock`: a real class, a real name, but not its member
                return f"{parts[-2]} has no member {last!r} in the index"
        for part in parts[:-1]:
            if part.lower() in _COMMON or re.search(rf"(?<![\w$]){re.escape(part)}(?![\w$])", self.source_text):
                continue
            if manifest.chunks_named([part], self.repos) or self.reader.symbols.known_names([part]):
                continue
            if any(part in p.split("/") or p.split("/")[-1].split(".")[0] == part
                   for files in self.files().values() for p in files):
                continue
            return f"{part!r} is not defined in the index"
        return None


def _strip_citations(text: str) -> str:
    return re.sub(r"\s*" + _CITATION.pattern, "", text, flags=re.I).strip()


__all__ = ["Answer", "AnswerStream", "Answerer", "Conversation", "DayoneLLM", "Flag", "IndexRetriever",
           "NO_CONTEXT_ANSWER", "Source", "check_answer"]
