"""The chat service behind `dayone serve`: one model and one index reader shared by every browser session.

The UI (app/ui.py) is a thin layer over this module, so the same service can be driven by tests, the load
benchmark and other front ends. Sharing is explicit: llama.cpp is not re-entrant, so answers are produced one
at a time under a lock while Gradio's queue keeps the other requests waiting in order. Conversations are held
in memory per browser session (the app keeps no state on disk except feedback).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.answering import NO_CONTEXT_ANSWER, Answer, Answerer, Conversation, Source
from app.llm import ChatModel, OpenAICompatibleModel
from app.retrieval import SearchHit
from indexer.embedding import Embedder
from indexer.generations import IndexReader, NoIndex
from indexer.settings import Settings

MAX_SESSIONS = 500  # conversations kept in memory; the least recently used one is forgotten first
MAX_QUESTION_CHARS = 4000  # a pasted log longer than this is cut: the prompt has no room for it anyway


@dataclass
class ChatEvent:
    """One step of an answer as it streams: the text so far, then the checked answer at the end."""

    text: str
    done: bool = False
    answer: Answer | None = None
    notice: str = ""  # a message for the user instead of an answer (no index yet, nothing you may read)


@dataclass
class RepoStatus:
    name: str
    source: str
    branch: str | None
    commit: str | None
    indexed_at: float
    files: int
    chunks: int


@dataclass
class IndexStatus:
    """What the index holds, for the status panel and `dayone status`."""

    available: bool
    generation: str = ""
    chunks: int = 0
    definitions: int = 0
    references: int = 0
    repos: list[RepoStatus] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    message: str = ""


def index_status(reader: IndexReader) -> IndexStatus:
    """The index's repositories, commits and sizes as one record (read-only)."""
    assert reader.store is not None and reader.generation is not None
    defs, refs = reader.symbols.counts()
    repos = [RepoStatus(r.name, r.source, r.branch, r.commit, r.indexed_at, r.files, r.chunks)
             for r in reader.manifest.repos()]
    return IndexStatus(True, reader.generation.name, reader.store.count(), defs, refs, repos,
                       reader.manifest.languages())


class FeedbackStore:
    """Thumbs up/down on answers, kept on this machine with the question and the sources it was given.

    It is the only thing `serve` writes; operators read it to find questions the index answers badly.
    """

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(path), check_same_thread=False)
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS feedback (id INTEGER PRIMARY KEY, at REAL NOT NULL, user TEXT,"
            " vote TEXT NOT NULL, question TEXT NOT NULL, answer TEXT NOT NULL, sources TEXT NOT NULL)")
        self._conn.commit()

    def add(self, *, vote: str, question: str, answer: str, sources: list[dict], user: str | None) -> None:
        with self._lock:
            self._conn.execute("INSERT INTO feedback (at, user, vote, question, answer, sources) VALUES (?,?,?,?,?,?)",
                               (time.time(), user, vote, question, answer, json.dumps(sources)))
            self._conn.commit()

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT at, user, vote, question, answer, sources FROM feedback ORDER BY id").fetchall()
        return [{"at": at, "user": user, "vote": vote, "question": q, "answer": a, "sources": json.loads(s)}
                for at, user, vote, q, a, s in rows]

    def close(self) -> None:
        self._conn.close()


@dataclass
class _Session:
    conversation: Conversation
    repos: list[str] | None
    languages: list[str] | None
    generation: str
    answers: list[Answer] = field(default_factory=list)


class ChatService:
    """Questions in, streamed and checked answers out, for many sessions over one model and one index."""

    def __init__(self, settings: Settings, model: ChatModel, embedder: Embedder):
        self.settings = settings
        self.model = model
        self.embedder = embedder
        self.feedback = FeedbackStore(settings.home / "feedback.sqlite")
        self._lock = threading.RLock()  # the reader and the sessions
        # llama.cpp in-process is not re-entrant: one answer at a time. A model server takes many at once.
        self._model_lock: threading.Lock | contextlib.nullcontext = (
            contextlib.nullcontext() if isinstance(model, OpenAICompatibleModel) else threading.Lock())
        self._active = 0  # answers in progress: a new index is opened only between answers
        self._reader: IndexReader | None = None
        self._answerer: Answerer | None = None
        self._sessions: OrderedDict[str, _Session] = OrderedDict()

    # -- the index ---------------------------------------------------------------------------------------------
    def _current(self) -> Answerer | None:
        """The answerer over the newest published index, reopened when a reindex published a new one."""
        if self._reader is None:
            try:
                self._reader = IndexReader(self.settings)
            except NoIndex:
                return None
            self._answerer = Answerer(self._reader, self.embedder, self.model, self.settings)
        elif self._active == 0 and self._reader.refresh():
            self._answerer = Answerer(self._reader, self.embedder, self.model, self.settings)
        return self._answerer

    def refresh(self) -> None:
        """Pick up a newly published index now (the scheduler calls this after a reindex)."""
        with self._lock:
            self._current()

    def after_reindex(self) -> None:
        """A reindex published: open the new index, then write the tour summaries for what changed, on the
        shared model (between answers) so the nightly run needs no second copy of it in memory."""
        from app.summaries import refresh_summaries

        self.refresh()
        if not self.settings.tour.summaries:
            return
        with self._model_lock, IndexReader(self.settings) as reader:
            refresh_summaries(self.settings, reader, model=self.model)

    def commits(self) -> dict[str, str | None]:
        """Each repository's indexed commit, for code-host links: the manifest only, cheap on every answer
        (`status()` also counts chunks and symbols)."""
        with self._lock:
            answerer = self._current()
            return {r.name: r.commit for r in answerer.reader.manifest.repos()} if answerer else {}

    def status(self) -> IndexStatus:
        with self._lock:
            answerer = self._current()
            if answerer is None:
                return IndexStatus(False, message="No index yet: run `dayone index PATH_OR_URL` (or wait for the "
                                                  "scheduled reindex), then reload this page.")
            return index_status(answerer.reader)

    # -- search ----------------------------------------------------------------------------------------------
    def search(self, query: str, *, repos: list[str] | None = None, languages: list[str] | None = None,
               k: int | None = None) -> list[SearchHit]:
        """Ranked chunks without the model: the fast path for "where is X?" (`repos` already access-narrowed)."""
        query = " ".join(query.split())[:MAX_QUESTION_CHARS]
        if not query or (repos is not None and not repos):
            return []
        with self._lock:
            answerer = self._current()
            if answerer is None:
                return []
            self._active += 1
        try:
            return answerer.search.search(query, k=k, repos=repos, languages=languages or None)
        finally:
            with self._lock:
                self._active -= 1

    # -- onboarding ------------------------------------------------------------------------------------------
    def people(self, answer: Answer, limit: int = 4) -> list[dict]:
        """People to ask about the files an answer cites: recent authors from git history, and CODEOWNERS."""
        from app.people import people_for_repo

        by_repo: dict[str, list[str]] = {}
        for src in answer.citations:
            by_repo.setdefault(src.repo, [])
            if src.path not in by_repo[src.repo]:
                by_repo[src.repo].append(src.path)
        with self._lock:
            answerer = self._current()
            sources = {r: (e.source if (e := answerer.reader.manifest.repo(r)) else "") for r in by_repo} \
                if answerer else {}
        found: list[dict] = []
        for repo, paths in by_repo.items():
            if sources.get(repo):
                found += [{**p.to_json(), "repo": repo} for p in people_for_repo(self.settings, repo, sources[repo],
                                                                                  paths, limit=limit)]
        return sorted(found, key=lambda p: -p["score"])[:limit]

    def tour(self, repo: str) -> Any:
        """The repository tour (app/tour.py) over the current index; None without an index."""
        from app.tour import build_tour

        with self._lock:
            answerer = self._current()
            if answerer is None:
                return None
            self._active += 1
        try:
            return build_tour(self.settings, answerer.reader, repo)
        finally:
            with self._lock:
                self._active -= 1

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
            answerer = self._current()
            if answerer is None:
                yield ChatEvent("", done=True, notice=self.status().message)
                return
            session = self._session(session_id, answerer, repos, languages)
            self._active += 1
        try:
            with self._model_lock:
                stream = session.conversation.ask(question)
                text = ""
                for piece in stream:
                    text += piece
                    yield ChatEvent(text)
                answer = stream.answer
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
            if self._reader is not None:
                self._reader.close()
                self._reader = None
            self.feedback.close()


def shown_sources(answer: Answer) -> list[tuple[str, Source]]:
    """The sources to show beside an answer with their labels: cited ones as [n], then the rest it read."""
    labelled = [(f"[{i}]", s) for i, s in enumerate(answer.citations, start=1)]
    cited = {id(s) for s in answer.citations}
    labelled += [("read", s) for s in answer.sources if id(s) not in cited]
    return labelled
