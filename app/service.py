"""The one dayone service: the composition root that every front end (CLI, web, MCP) is a thin door over.

It opens the published index, the embedder and the model (each on first use, once per process) and applies the
caller's access scope, so the rules that decide what a user may see live here and in app/access.py only.
Sharing is explicit: llama.cpp is not re-entrant, so answers are produced one at a time under a lock while the
web UI's queue keeps other requests waiting in order. Conversations are held in memory per browser session; the
only thing written to disk is feedback. A newly published index generation is picked up between answers.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app import access
from app.access import allowed_repos, visible
from app.answer.chat_model import ChatModel, OpenAICompatibleModel, load_chat_model
from app.answer.facts import FactsBuilder, FactsCard
from app.answer.prompts import NO_CONTEXT_ANSWER
from app.answer.results import Answer, AnswerStream, Source
from app.feedback import FeedbackStore
from app.search.rerank import Reranker, rerank_active
from app.search.retriever import Retriever, SearchHit
from app.search.scope import question_repos
from app.settings import Settings
from indexer.embedding.dense import Embedder, embedder_for
from indexer.reader import IndexReader, NoIndex

if TYPE_CHECKING:  # llama-index loads in seconds: only the first answer pays for it, not `dayone search`
    from app.answer.conversation import Answerer, Conversation

MAX_SESSIONS = 500  # conversations kept in memory; the least recently used one is forgotten first
MAX_QUESTION_CHARS = 4000  # a pasted log longer than this is cut: the prompt has no room for it anyway
NO_INDEX_MESSAGE = ("No index yet: run `dayone index PATH_OR_URL` (or wait for the scheduled reindex), then reload "
                    "this page.")


class UnknownRepository(LookupError):
    """A repository name the caller may not read: missing and hidden read the same, so a hidden name is never
    confirmed to exist. `visible` lists what the caller may read, for the message."""

    def __init__(self, name: str, visible: list[str]):
        super().__init__(f"no indexed repository is named {name!r} (indexed: {', '.join(visible) or 'none'})")
        self.name = name
        self.visible = visible


@dataclass
class ChatEvent:
    """One step of an answer as it streams: the text so far, then the checked answer at the end."""

    text: str
    done: bool = False
    answer: Answer | None = None
    notice: str = ""  # a message for the user instead of an answer (no index yet, nothing you may read)
    facts: FactsCard | None = None  # the card from the index: sent once, before the model's first token


@dataclass
class RepoStatus:
    name: str
    source: str
    branch: str | None
    commit: str | None
    indexed_at: float
    files: int
    chunks: int
    skipped: dict[str, int] = field(default_factory=dict)


@dataclass
class IndexStatus:
    """What the index holds (within the caller's repositories), for the status panel and `dayone status`."""

    available: bool
    generation: str = ""
    chunks: int = 0
    definitions: int = 0
    references: int = 0
    repos: list[RepoStatus] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    message: str = ""
    store: str = ""  # where the vectors are: a Qdrant server's URL or the embedded shard's folder
    build: str = ""  # the model, chunker and rules that built the index (a change of any rebuilds it)

    def to_json(self, home: str) -> dict[str, Any]:
        return {
            "home": home, "generation": self.generation, "store": self.store, "build": self.build,
            "chunks": self.chunks, "definitions": self.definitions, "references": self.references,
            "repos": [{"name": r.name, "source": r.source, "branch": r.branch, "commit": r.commit,
                       "indexed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(r.indexed_at)),
                       "files": r.files, "chunks": r.chunks, "skipped": r.skipped} for r in self.repos],
        }


def index_status(reader: IndexReader, repos: list[str] | None = None) -> IndexStatus:
    """The index's repositories, commits and sizes as one record (read-only), counted within `repos` (None =
    all), so a restricted user learns nothing of the others, not even how big they are."""
    from indexer.store import SearchFilter

    assert reader.store is not None and reader.generation is not None
    defs, refs = reader.symbols.counts(repos)
    entries = [RepoStatus(r.name, r.source, r.branch, r.commit, r.indexed_at, r.files, r.chunks, r.skipped)
               for r in reader.manifest.repos() if repos is None or r.name in repos]
    chunks = reader.store.count(None if repos is None else SearchFilter(repos=list(repos)))
    store = reader.settings.store.qdrant_url or f"qdrant-edge:{reader.generation.shard_path}"
    return IndexStatus(True, reader.generation.name, chunks, defs, refs, entries, reader.manifest.languages(repos),
                       store=store, build=reader.manifest.get_info("build_key") or "")


@dataclass
class _Index:
    """One opened generation and what is built over it; replaced as a whole when a new one is published."""

    reader: IndexReader
    retriever: Retriever
    answerer: Answerer | None = None


@dataclass
class _Session:
    conversation: Conversation
    repos: list[str] | None
    languages: list[str] | None
    generation: str
    answers: list[Answer] = field(default_factory=list)


class Service:
    """Questions in, search hits, tours and checked answers out, for many callers over one model and one index."""

    def __init__(self, settings: Settings, *, model: ChatModel | None = None, embedder: Embedder | None = None):
        self.settings = settings
        self._model = model
        self._embedder = embedder
        self.feedback = FeedbackStore(settings.home / "feedback.jsonl")
        self._lock = threading.RLock()  # the index and the sessions
        self._load_lock = threading.Lock()  # one model load, however many callers ask at once
        self._model_lock: threading.Lock | contextlib.nullcontext | None = None
        self._active = 0  # calls in progress: a new index is opened only between them
        self._index: _Index | None = None
        self._no_index = NO_INDEX_MESSAGE  # why there is none, as the reader said it
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self._first_day: dict[tuple[str, str], list[str]] = {}  # (generation, repo) -> its first-day questions
        self._rerank: Reranker | None | bool = None  # decided on first use: False when search.rerank is off here

    # -- parts, opened on first use ----------------------------------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        with self._load_lock:
            if self._embedder is None:
                self._embedder = embedder_for(self.settings)
            return self._embedder

    @property
    def model(self) -> ChatModel:
        """The answering model; loading it raises ModelError/ModelFileError with a one-line reason."""
        with self._load_lock:
            if self._model is None:
                self._model = load_chat_model(self.settings)
            return self._model

    def reranker(self) -> Reranker | None:
        """The model's rerank of search results when `search.rerank` asks for it here (app/search/rerank.py);
        deciding "auto" imports llama.cpp but loads no model, and the model loads at the first rerank."""
        if self._rerank is None:
            active = rerank_active(self.settings)
            self._rerank = Reranker(lambda: self.model, files=self.settings.search.rerank_files) if active else False
        return self._rerank or None

    def _answers_one_at_a_time(self) -> threading.Lock | contextlib.nullcontext:
        # llama.cpp in-process is not re-entrant: one answer at a time. A model server takes many at once.
        if self._model_lock is None:
            self._model_lock = (contextlib.nullcontext() if isinstance(self.model, OpenAICompatibleModel)
                                else threading.Lock())
        return self._model_lock

    # -- the index ---------------------------------------------------------------------------------------------
    def _current(self) -> _Index | None:
        """The newest published index, reopened when a reindex published a new one (between calls only)."""
        if self._index is None:
            try:
                reader = IndexReader(self.settings)
            except NoIndex as exc:
                self._no_index = str(exc)
                return None
            self._index = _Index(reader, Retriever(reader, self.embedder, self.settings.search))
        elif self._active == 0 and self._index.reader.refresh():
            reader = self._index.reader
            self._index = _Index(reader, Retriever(reader, self.embedder, self.settings.search))
        return self._index

    @contextlib.contextmanager
    def _using(self) -> Iterator[_Index | None]:
        """The current index, held open (no generation switch) for the length of one call."""
        with self._lock:
            index = self._current()
            self._active += 1
        try:
            yield index
        finally:
            with self._lock:
                self._active -= 1

    def require_index(self) -> None:
        """Raise NoIndex (with the reader's one-line reason) when nothing has been indexed yet."""
        with self._lock:
            if self._current() is None:
                raise NoIndex(self._no_index)

    def _answerer(self, index: _Index) -> Answerer:
        from app.answer.conversation import Answerer

        if index.answerer is None:
            index.answerer = Answerer(index.reader, self.embedder, self.model, self.settings,
                                      reranker=self.reranker())
        return index.answerer

    def refresh(self) -> None:
        """Pick up a newly published index now (the scheduler calls this after a reindex)."""
        with self._lock:
            self._current()

    def after_reindex(self) -> None:
        """A reindex published: open the new index, then write the tour summaries for what changed, on the
        shared model (between answers) so the nightly run needs no second copy of it in memory."""
        from app.tour.summaries import refresh_summaries
        from indexer.embedding.dense import embedder_identity

        with self._lock:
            if self._embedder is not None and self._embedder.model_id != embedder_identity(self.settings):
                # `reindex.tune` switched to a tuned model and rebuilt: queries must use the same model
                self._embedder = None
                if self._index is not None and self._active == 0:
                    self._index.reader.close()
                    self._index = None
        self.refresh()
        if not self.settings.tour.summaries:
            return
        with self._answers_one_at_a_time(), IndexReader(self.settings) as reader:
            refresh_summaries(self.settings, reader, model=self.model)

    # -- access ------------------------------------------------------------------------------------------------
    def visible_repos(self, user: str | None) -> list[str]:
        """The indexed repositories `user` may read (None: the local operator, who may read all)."""
        with self._using() as index:
            indexed = [r.name for r in index.reader.manifest.repos()] if index else []
        return indexed if user is None else visible(indexed, allowed_repos(self.settings, user))

    def scope(self, user: str | None, requested: list[str] | None = None, *, strict: bool = False) -> list[str] | None:
        """The repositories one call may touch: `requested` (None = all) within what `user` may read.

        None means unrestricted, [] means nothing (every store query then matches nothing). With `strict`, a
        requested name the user cannot read raises UnknownRepository instead of being dropped silently.
        """
        if strict and requested:
            shown = self.visible_repos(user)
            for name in requested:
                if name not in shown:
                    raise UnknownRepository(name, shown)
        return access.repos_for(self.settings, user, requested)

    # -- what the index holds ----------------------------------------------------------------------------------
    def commits(self) -> dict[str, str | None]:
        """Each repository's indexed commit, for code-host links: the manifest only, cheap on every answer."""
        with self._using() as index:
            return {r.name: r.commit for r in index.reader.manifest.repos()} if index else {}

    def status(self, repos: list[str] | None = None) -> IndexStatus:
        """The index within `repos` (None = all)."""
        with self._using() as index:
            if index is None:
                return IndexStatus(False, message=NO_INDEX_MESSAGE)
            return index_status(index.reader, repos)

    def repositories(self, repos: list[str] | None = None) -> list[RepoStatus]:
        return self.status(repos).repos

    # -- search ----------------------------------------------------------------------------------------------
    def search(self, query: str, *, repos: list[str] | None = None, languages: list[str] | None = None,
               k: int | None = None, rerank: bool = True) -> list[SearchHit]:
        """Ranked chunks: the fast path for "where is X?" (`repos` already scoped). The model takes part only
        when `search.rerank` is on here, and then only reorders what the search found within `repos`."""
        query = query.strip()[:MAX_QUESTION_CHARS]  # line breaks stay: traceback frames are read line by line
        if not query or (repos is not None and not repos):
            return []
        with self._using() as index:
            if index is None:
                return []
            reranker = self.reranker() if rerank else None
            if reranker is not None:
                return reranker.search(index.retriever, query, k=k, repos=repos, languages=languages or None)
            return index.retriever.search(query, k=k, repos=repos, languages=languages or None)

    def symbol(self, name: str, *, repos: list[str] | None = None, max_references: int = 50) -> dict[str, Any]:
        """Where `name` (e.g. `pay` or `OrderService.pay`) is defined and where it is used, within `repos`."""
        if repos is not None and not repos:
            return {"name": name, "definitions": [], "references": [], "references_total": 0}
        with self._using() as index:
            if index is None:
                raise NoIndex(NO_INDEX_MESSAGE)
            table = index.reader.symbols
            definitions = table.definitions(name, repos)
            refs = table.references(name.rsplit(".", 1)[-1], repos)
        return {
            "name": name,
            "definitions": [{"repo": d.repo, "path": d.path, "qualified_name": d.qualified_name, "kind": d.kind,
                             "start_line": d.start_line, "end_line": d.end_line,
                             "location": f"{d.repo}:{d.path}:{d.start_line}"} for d in definitions],
            "references": [{"repo": r[0], "path": r[1], "kind": r[2], "line": r[3], "location": f"{r[0]}:{r[1]}:{r[3]}"}
                           for r in refs[:max(0, max_references)]],
            "references_total": len(refs),
        }

    def facts(self, question: str, *, repos: list[str] | None = None, hits: list[Any] | None = None) -> FactsCard:
        """The facts card for a question (app/answer/facts.py): definitions, callers, callees, tests and recent
        commits read from the index within `repos`, never generated. Without `hits` the search runs first."""
        question = " ".join(question.split())[:MAX_QUESTION_CHARS]
        if repos is not None and not repos:
            return FactsCard([])
        if hits is None:  # the search's own order: the card comes before the answer, without a second model call
            hits = self.search(question, repos=repos, k=self.settings.llm.max_sources, rerank=False)
        with self._using() as index:
            if index is None:
                return FactsCard([])
            # "koa's context object": the card's subjects come from the repositories the question names, as the
            # search's hits do (app/search/scope.py)
            named = question_repos(question, repos, index.reader)
            card = FactsBuilder(self.settings, index.reader, named or repos).card(question, hits)
            card.scope = named
            return card

    # -- onboarding ------------------------------------------------------------------------------------------
    def people(self, answer: Answer, limit: int = 4) -> list[dict]:
        """People to ask about the files an answer cites: recent authors from git history, and CODEOWNERS."""
        from app.tour.people import people_for_repo

        by_repo: dict[str, list[str]] = {}
        for src in answer.citations:
            by_repo.setdefault(src.repo, [])
            if src.path not in by_repo[src.repo]:
                by_repo[src.repo].append(src.path)
        with self._using() as index:
            sources = {r: (e.source if (e := index.reader.manifest.repo(r)) else "") for r in by_repo} \
                if index else {}
        found: list[dict] = []
        for repo, paths in by_repo.items():
            if sources.get(repo):
                found += [{**p.to_json(), "repo": repo} for p in people_for_repo(self.settings, repo, sources[repo],
                                                                                  paths, limit=limit)]
        return sorted(found, key=lambda p: -p["score"])[:limit]

    def tour(self, repo: str) -> Any:
        """The repository tour (app/tour/) over the current index; None without an index."""
        from app.tour.tour import build_tour

        with self._using() as index:
            if index is None:
                return None
            return build_tour(self.settings, index.reader, repo)

    def first_day_questions(self, repos: list[str] | None = None, *, limit: int = 4,
                            max_repos: int = 3) -> list[str]:
        """Questions for the chat page made from the tours of `repos` (None = all; [] = none): their entry
        points, central symbols and build commands (app/tour/questions.py). Each repository's list is kept per
        index generation, so a page load after the first costs nothing."""
        from app.tour.questions import interleave, questions_for
        from app.tour.tour import build_tour

        with self._using() as index:
            if index is None or (repos is not None and not repos):
                return []
            assert index.reader.generation is not None
            generation = index.reader.generation.name
            names = [r.name for r in index.reader.manifest.repos() if repos is None or r.name in repos][:max_repos]
            lists = []
            for name in names:
                key = (generation, name)
                if key not in self._first_day:
                    try:
                        self._first_day[key] = questions_for(build_tour(self.settings, index.reader, name))
                    except KeyError:
                        self._first_day[key] = []
                lists.append(self._first_day[key])
        return interleave(lists, limit)

    def refresh_summaries(self, repos: list[str] | None = None, *,
                          progress: Callable[[str], None] | None = None) -> Any:
        """Write the model summaries the tour lacks for `repos` (default: all indexed); see app/tour/summaries.py."""
        from app.tour.summaries import refresh_summaries

        with self._using() as index:
            if index is None:
                raise NoIndex(self._no_index)
            return refresh_summaries(self.settings, index.reader, repos, model=self._model, progress=progress)

    def local_roots(self) -> dict[str, Any]:
        """Each indexed repository's folder on this machine (None when it has none), for file links."""
        from app.tour.repofiles import local_root

        with self._using() as index:
            entries = index.reader.manifest.repos() if index else []
        return {r.name: local_root(self.settings, r.name, r.source) for r in entries}

    # -- answers -----------------------------------------------------------------------------------------------
    def answer(self, question: str, *, repos: list[str] | None = None,
               languages: list[str] | None = None) -> Iterator[FactsCard | str | Answer]:
        """One standalone question: the facts card first (from the index, before the model runs), then the
        answer's text in pieces as the model writes them, then the checked `Answer` as the last item (the
        CLI's `ask` and the MCP tool; the web UI keeps conversations, `ask`)."""
        with self._using() as index:
            if index is None:
                raise NoIndex(NO_INDEX_MESSAGE)
            answerer = self._answerer(index)
            with self._answers_one_at_a_time():
                stream: AnswerStream = answerer.ask(question, repos=repos, languages=languages)
                # The card is about the question as the user asked it, not the model's rewrite of a follow-up
                card = self.facts(question, repos=repos)
                yield card
                yield from stream
                answer = stream.answer
                answer.facts = card
                yield answer

    # -- answers -----------------------------------------------------------------------------------------------
    def ask(self, session_id: str, question: str, *, repos: list[str] | None = None,
            languages: list[str] | None = None) -> Iterator[ChatEvent]:
        """Stream an answer for one session; follow-ups in the same session are condensed with its history.

        `repos` is already narrowed to what the user may read; an empty list means nothing, and the answer
        says so without searching.
        """
        question = " ".join(question.split())[:MAX_QUESTION_CHARS]
        if not question:
            yield ChatEvent("", done=True, notice="Ask a question about the code, e.g. “where are orders paid?”")
            return
        if repos is not None and not repos:
            yield ChatEvent(NO_CONTEXT_ANSWER, done=True,
                            notice="You have no access to any indexed repository (ask an administrator).")
            return
        with self._lock:
            index = self._current()
            if index is None:
                yield ChatEvent("", done=True, notice=NO_INDEX_MESSAGE)
                return
            session = self._session(session_id, self._answerer(index), repos, languages)
            self._active += 1
        try:
            with self._answers_one_at_a_time():
                stream = session.conversation.ask(question)
                # The card is about the question as the user asked it, not the model's rewrite of a follow-up
                card = self.facts(question, repos=repos)
                yield ChatEvent("", facts=card)
                text = ""
                for piece in stream:
                    text += piece
                    yield ChatEvent(text)
                answer = stream.answer
                answer.facts = card
            session.answers.append(answer)
            yield ChatEvent(answer.text, done=True, answer=answer)
        finally:
            with self._lock:
                self._active -= 1

    def _session(self, session_id: str, answerer: Answerer, repos: list[str] | None,
                 languages: list[str] | None) -> _Session:
        generation = answerer.reader.generation.name if answerer.reader.generation else ""
        session = self._sessions.get(session_id)
        if session is None or session.generation != generation or (session.repos, session.languages) != (
                repos, languages):
            conversation = answerer.conversation(repos=repos, languages=languages)
            if session is not None:  # new filters or a new index: keep the history for follow-ups
                conversation.turns = session.conversation.turns[:]
            session = _Session(conversation, repos, languages, generation,
                               session.answers if session is not None else [])
            self._sessions[session_id] = session
        self._sessions.move_to_end(session_id)
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return session

    def forget(self, session_id: str) -> None:
        """A cleared chat starts a new conversation."""
        with self._lock:
            self._sessions.pop(session_id, None)

    def last_answer(self, session_id: str) -> Answer | None:
        session = self._sessions.get(session_id)
        return session.answers[-1] if session is not None and session.answers else None

    def record_feedback(self, session_id: str, answer_text: str, vote: str, user: str | None) -> bool:
        """Store a vote on the session's answer whose text the browser shows (the newest one if repeated)."""
        session = self._sessions.get(session_id)
        wanted = answer_text.strip()
        for answer in reversed(session.answers if session is not None else []):
            if answer.text.strip() == wanted:
                sources = [{**s.citation_json(), "cited": s in answer.citations} for s in answer.sources]
                self.feedback.add(vote=vote, question=answer.question, answer=answer.text, sources=sources,
                                  user=user)
                return True
        return False

    def close(self) -> None:
        with self._lock:
            if self._index is not None:
                self._index.reader.close()
                self._index = None
            self.feedback.close()


def shown_sources(answer: Answer) -> list[tuple[str, Source]]:
    """The sources to show beside an answer with their labels: cited ones as [n], then the rest it read."""
    labelled = [(f"[{i}]", s) for i, s in enumerate(answer.citations, start=1)]
    cited = {id(s) for s in answer.citations}
    labelled += [("read", s) for s in answer.sources if id(s) not in cited]
    return labelled
