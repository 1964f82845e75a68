"""`dayone eval --answers`: answer quality on pinned real codebases, against what a user would build instead.

Questions live in eval/answers/questions.jsonl, a third each of "where", "how does X work" and "what is X for",
each with a reference answer written from the pinned source before any system ran on it, the key symbols and files
a good answer names, for "how" questions the steps of the flow in order, and a `split` ("dev" or "heldout": the
final figures are the held-out third's; prompts are never tuned on it).

Every score is computed offline from the answer text:
- key-symbol recall: the share of key symbols the answer names (a symbol counts when its last dotted part
  appears as a word: `Signer.verify_signature` is named by "verify_signature");
- flow-step recall ("how" questions): the share of flow steps the answer names (a step lists alternatives);
- citation precision: the share of citations whose cited lines hold a code name or path their sentence names;
- invented names: names, paths and relations the index checker flagged (app/answer/citations.py); paths it
  wrote as the one source file they stand for ("app/application.js" for lib/application.js) are counted apart,
  and so are sentences it removed as copies of the prompt's worked example;
- first-token time: question in to the first piece of the answer.

Systems: `dayone` (the whole answer path: flow-following retrieval, prompt, model, checks), `sources` (our
retrieval with no model: the answer is the sources' names and paths, the baseline any answer must beat), and
`llama-index` (plain llama-index RAG over the same files with the same embedding model and the same chat model).
"""

from __future__ import annotations

import json
import re
import statistics
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from app.evaluation.retrieval_eval import (
    EVAL_DIR,
    EvalError,
    LlamaIndexBaseline,
    ensure_indexed,
    fetch_sources,
    indexed_files,
    load_pins,
    sources_root,
)
from app.settings import Settings

ANSWERS_DIR = EVAL_DIR / "answers"
KINDS = ("where", "how", "what_for")
SYSTEMS = ("sources", "map", "dayone", "llama-index")


@dataclass(frozen=True)
class AnswerQuestion:
    id: str
    repo: str
    kind: str
    split: str
    question: str
    reference: str
    key_symbols: tuple[str, ...]
    key_files: tuple[str, ...]
    flow: tuple[tuple[str, ...], ...]


def load_answer_questions(folder: Path = ANSWERS_DIR, repos: Iterable[str] | None = None,
                          split: str = "all") -> list[AnswerQuestion]:
    """The questions (optionally of some repositories and one split); a malformed line is a one-line error."""
    path = folder / "questions.jsonl"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise EvalError(f"{path}: cannot read the answer questions ({exc.strerror or exc})") from None
    wanted = set(repos) if repos else None
    out = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            q = AnswerQuestion(d["id"], d["repo"], d["kind"], d["split"], d["question"], d["reference"],
                               tuple(d["key_symbols"]), tuple(d["key_files"]),
                               tuple(tuple(step) for step in d.get("flow", [])))
        except (ValueError, KeyError, TypeError) as exc:
            raise EvalError(f"{path}:{number}: not a valid question ({exc})") from None
        if q.kind not in KINDS or q.split not in ("dev", "heldout") or (q.kind == "how" and not q.flow):
            raise EvalError(f"{path}:{number}: kind must be one of {KINDS}, split dev or heldout, and a 'how' "
                            "question needs its flow steps")
        if (wanted is None or q.repo in wanted) and split in ("all", q.split):
            out.append(q)
    return out


def check_questions(questions: list[AnswerQuestion], roots: dict[str, Path]) -> list[str]:
    """Problems with the references: a key file missing from the pinned source, or a key symbol or flow step
    whose name occurs in none of the key files (a reference must name what the code holds)."""
    problems = []
    for q in questions:
        root = roots[q.repo]
        texts = []
        for rel in q.key_files:
            if not (root / rel).is_file():
                problems.append(f"{q.id}: key file {rel} is not in {q.repo}")
            else:
                texts.append((root / rel).read_text(errors="replace"))
        hay = "\n".join(texts)
        for name in [*q.key_symbols, *(alt for step in q.flow for alt in step[:1])]:
            if not re.search(rf"(?<![\w$]){re.escape(_last(name))}(?![\w$])", hay):
                problems.append(f"{q.id}: {name} occurs in none of its key files")
    return problems


# -- scoring --------------------------------------------------------------------------------------------------


def _last(name: str) -> str:
    return re.split(r"\.|#|::", name)[-1]


def names(text: str, symbol: str) -> bool:
    """Whether `text` names `symbol`: its last dotted part as a whole word (case-sensitive)."""
    return bool(re.search(rf"(?<![\w$]){re.escape(_last(symbol))}(?![\w$])", text))


@dataclass
class AnswerScore:
    id: str
    kind: str
    key_recall: float
    flow_recall: float | None
    citations: int
    precise: int
    invented: int
    first_token_s: float
    text: str = ""
    corrected: int = 0  # paths the checker wrote as the one source file they stand for (not counted as invented)
    removed: int = 0  # sentences the checker removed as copies of the prompt's worked example (not counted either)

    def to_json(self) -> dict:
        return self.__dict__.copy()


def score_text(q: AnswerQuestion, text: str, *, citations: int = 0, precise: int = 0, invented: int = 0,
               first_token_s: float = 0.0, corrected: int = 0, removed: int = 0) -> AnswerScore:
    key = sum(1 for s in q.key_symbols if names(text, s)) / len(q.key_symbols) if q.key_symbols else 0.0
    flow = (sum(1 for step in q.flow if any(names(text, alt) for alt in step)) / len(q.flow)) if q.flow else None
    return AnswerScore(q.id, q.kind, key, flow, citations, precise, invented, first_token_s, text, corrected,
                       removed)


def citation_counts(answer: object, text: str | None = None) -> tuple[int, int]:
    """(citations, precise citations) of a checked `Answer` (or of `text`, a part of its text): a citation is
    precise when its source's lines hold a code name or path that its sentence names."""
    from app.answer.citations import _mentions, _sentences, _supports

    text = answer.text if text is None else text  # type: ignore[attr-defined]
    cites = answer.citations  # type: ignore[attr-defined]
    total = precise = 0
    for start, end in _sentences(text, []):
        sentence = text[start:end]
        found = [n for _s, _e, n, _k in _mentions(sentence, [])]
        for number in {int(n) for n in re.findall(r"\[(\d+)\]", sentence)}:
            if 1 <= number <= len(cites):
                total += 1
                precise += bool(found) and _supports(cites[number - 1], found)
    return total, precise


@dataclass
class SystemRun:
    name: str
    scores: list[AnswerScore] = field(default_factory=list)

    def row(self) -> list[str]:
        s = self.scores
        if not s:
            return [self.name, "0", "-", "-", "-", "-", "-", "-", "-", "-"]
        flows = [x.flow_recall for x in s if x.flow_recall is not None]
        cites = sum(x.citations for x in s)
        cited = sum(1 for x in s if x.citations)
        return [self.name, str(len(s)), f"{statistics.mean(x.key_recall for x in s):.2f}",
                f"{statistics.mean(flows):.2f}" if flows else "-", f"{cited}/{len(s)}",
                f"{sum(x.precise for x in s) / cites:.2f}" if cites else "-", str(sum(x.invented for x in s)),
                str(sum(x.corrected for x in s)), str(sum(x.removed for x in s)),
                f"{statistics.median(x.first_token_s for x in s):.1f} s"]


HEADER = ["system", "questions", "key-symbol recall", "flow-step recall", "answers citing", "citation precision",
          "invented names", "paths corrected", "example copies removed", "first token (median)"]


def format_table(runs: list[SystemRun]) -> str:
    rows = [HEADER, ["---"] * len(HEADER), *[r.row() for r in runs]]
    return "\n".join("| " + " | ".join(r) + " |" for r in rows)


# -- the systems ----------------------------------------------------------------------------------------------


def run_sources(settings: Settings, questions: list[AnswerQuestion]) -> SystemRun:
    """Our retrieval with no model: the sources an answer would get, as names and paths."""
    from app.answer.llama_index import IndexRetriever
    from app.search.retriever import Retriever
    from indexer.embedding.dense import embedder_for
    from indexer.reader import IndexReader

    run = SystemRun("sources (no model)")
    with IndexReader(settings) as reader:
        search = Retriever(reader, embedder_for(settings), settings.search)
        for q in questions:
            t0 = time.perf_counter()
            nodes = IndexRetriever(search, k=settings.llm.max_sources, repos=[q.repo]).retrieve(q.question)
            text = "\n".join(f"{n.node.metadata['symbol']} {n.node.metadata['path']}" for n in nodes)
            run.scores.append(score_text(q, text, first_token_s=time.perf_counter() - t0))
    return run


class _Silent:
    """The chat model with its generation left out: dayone's answer path with no prose, so the answer is the
    reading map alone. Its tokenizer and context size still size the prompt, so the map lists what the model
    would have been given."""

    def __init__(self, model: object) -> None:
        self._model = model

    def __getattr__(self, name: str) -> object:
        return getattr(self._model, name)

    def stream(self, *_args: object, **_kwargs: object) -> Iterator[str]:
        from app.answer.chat_model import GenerationStats

        self.last_stats = GenerationStats()
        return iter(())


def run_map(settings: Settings, questions: list[AnswerQuestion]) -> SystemRun:
    """The reading map alone (app/answer/outline.py): what the index gives under every answer, no model time."""
    from app.answer.chat_model import load_chat_model
    from app.answer.conversation import Answerer
    from indexer.embedding.dense import embedder_for
    from indexer.reader import IndexReader

    run = SystemRun("reading map (no prose)")
    model = _Silent(load_chat_model(settings))
    with IndexReader(settings) as reader:
        answerer = Answerer(reader, embedder_for(settings), model, settings)  # type: ignore[arg-type]
        for q in questions:
            t0 = time.perf_counter()
            stream = answerer.ask(q.question, repos=[q.repo])
            for _piece in stream:
                pass
            answer = stream.answer
            total, precise = citation_counts(answer)
            run.scores.append(score_text(q, answer.text, citations=total, precise=precise,
                                         first_token_s=time.perf_counter() - t0))
    return run


def run_dayone(settings: Settings, questions: list[AnswerQuestion],
               log: Callable[[str], None]) -> tuple[SystemRun, SystemRun]:
    """The whole answer as a reader gets it, and the same answers' model prose alone (without the reading map
    read from the index, app/answer/outline.py): what the model itself adds."""
    from app.answer.chat_model import load_chat_model
    from app.answer.conversation import Answerer
    from app.answer.outline import split_map
    from indexer.embedding.dense import embedder_for
    from indexer.reader import IndexReader

    run, prose_run = SystemRun("dayone"), SystemRun("dayone, the model's prose only")
    model = load_chat_model(settings)
    with IndexReader(settings) as reader:
        answerer = Answerer(reader, embedder_for(settings), model, settings)
        for i, q in enumerate(questions, 1):
            t0 = time.perf_counter()
            stream = answerer.ask(q.question, repos=[q.repo])
            first = None
            for _piece in stream:
                first = first if first is not None else time.perf_counter() - t0
            answer = stream.answer
            total, precise = citation_counts(answer)
            invented = sum(1 for f in answer.flagged if f.kind in ("symbol", "path", "relation"))
            corrected = sum(1 for f in answer.flagged if f.kind == "corrected")
            removed = sum(1 for f in answer.flagged if f.kind == "example")
            run.scores.append(score_text(q, answer.text, citations=total, precise=precise, invented=invented,
                                         first_token_s=first or 0.0, corrected=corrected, removed=removed))
            prose = split_map(answer.text)[0]
            total, precise = citation_counts(answer, prose)
            prose_run.scores.append(score_text(q, prose, citations=total, precise=precise, invented=invented,
                                               first_token_s=first or 0.0, corrected=corrected, removed=removed))
            log(f"dayone {i}/{len(questions)} {q.id}: {time.perf_counter() - t0:.0f} s")
    return run, prose_run


def run_llamaindex_rag(settings: Settings, questions: list[AnswerQuestion], roots: dict[str, Path],
                       log: Callable[[str], None]) -> SystemRun:
    """Plain llama-index RAG: its SentenceSplitter index over the same files, the same embedding model, the same
    chat model through llama-index's LLM interface, its default query engine and prompt."""
    from app.answer.chat_model import load_chat_model
    from app.answer.llama_index import DayoneLLM
    from indexer.embedding.dense import default_model_path

    model_path = Path(settings.embedding.model_path).expanduser() if settings.embedding.model_path else \
        default_model_path()
    li = LlamaIndexBaseline(settings.home / "eval-cache" / "llamaindex", model_path, log)
    for repo in sorted({q.repo for q in questions}):
        li.prepare(repo, indexed_files(settings, repo, roots[repo]))
    llm = DayoneLLM(load_chat_model(settings), max_tokens=settings.llm.max_answer_tokens)
    run = SystemRun("llama-index RAG")
    for i, q in enumerate(questions, 1):
        engine = li._indexes[q.repo].as_query_engine(llm=llm, similarity_top_k=settings.llm.max_sources,
                                                     streaming=True)  # type: ignore[attr-defined]
        t0 = time.perf_counter()
        response = engine.query(q.question)
        text, first = "", None
        for piece in response.response_gen:
            first = first if first is not None else time.perf_counter() - t0
            text += piece
        run.scores.append(score_text(q, text, first_token_s=first or 0.0))
        log(f"llama-index {i}/{len(questions)} {q.id}: {time.perf_counter() - t0:.0f} s")
    return run


def prepare(settings: Settings, folder: Path = ANSWERS_DIR, repos: list[str] | None = None, split: str = "all",
            log: Callable[[str], None] = print) -> tuple[list[AnswerQuestion], dict[str, Path]]:
    """Load and check the questions, fetch their pinned sources and index them (reused by later runs)."""
    questions = load_answer_questions(folder, repos, split)
    if not questions:
        raise EvalError(f"no answer questions in {folder} for {', '.join(repos or ['any repository'])}")
    needed = {q.repo for q in questions}
    pins = [p for p in load_pins(folder.parent) if p.name in needed]
    if missing := sorted(needed - {p.name for p in pins}):
        raise EvalError(f"{missing[0]} is not pinned in {folder.parent / 'sources.json'}")
    roots = fetch_sources(pins, sources_root(settings), log)
    if problems := check_questions(questions, roots):
        raise EvalError(f"{len(problems)} reference problems, first: {problems[0]}")
    ensure_indexed(settings, roots, log, pins=pins)
    return questions, roots


def run(settings: Settings, systems: Iterable[str], folder: Path = ANSWERS_DIR, repos: list[str] | None = None,
        split: str = "all", limit: int = 0, log: Callable[[str], None] = print) -> list[SystemRun]:
    wanted = list(systems)
    if unknown := [s for s in wanted if s not in SYSTEMS]:
        raise EvalError(f"unknown system {unknown[0]!r} (systems: {', '.join(SYSTEMS)})")
    questions, roots = prepare(settings, folder, repos, split, log)
    if limit:
        questions = questions[:limit]
    runs = []
    for name in wanted:
        if name == "sources":
            runs.append(run_sources(settings, questions))
        elif name == "map":
            runs.append(run_map(settings, questions))
        elif name == "dayone":
            runs += run_dayone(settings, questions, log)
        else:
            runs.append(run_llamaindex_rag(settings, questions, roots, log))
    return runs


__all__ = ["AnswerQuestion", "AnswerScore", "SystemRun", "check_questions", "citation_counts", "format_table",
           "load_answer_questions", "names", "run", "score_text"]
