"""The proof: a tuned embedder against the base one, on questions it never trained on.

Two question sets, both searched through the real index (the project's indexer pipeline into a scratch
DAYONE_HOME per model, the real store, app/retrieval.py's searcher):

- held-out commits: messages of commits after the cut-off, searched in an index of the repository at the
  cut-off; the source files and definitions each commit changed are its gold;
- `dayone eval`'s hand-written questions (eval/*.jsonl) on the pinned releases, for tuned codebases and, to show
  what tuning costs elsewhere, for codebases the model never saw.

Each set is scored twice: dense retrieval alone (what the embedder itself does) and the full hybrid search
(what a user gets). Metrics are app/evaluation.py's: file hit@5, MRR@10 over distinct files, symbol hit@10.
"""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.evaluation.retrieval_eval import Question, Ranking, Span, score, summarize
from app.settings import Settings
from app.tune.mining import TuneError, git, is_source_code, tree_files
from app.tune.pairs import HeldOut
from indexer.chunking import chunk_file
from indexer.settings import EmbeddingSettings, RepoConfig

FETCH = 20
MODES = ("dense", "hybrid")


@dataclass
class QuestionSet:
    name: str  # e.g. "click held-out" or "express eval"
    repo: str  # the index's repository name the questions search
    questions: list[Question]
    spans: dict[str, list[Span]]


def export_snapshot(repo_dir: Path, rev: str, target: Path) -> Path:
    """The source files of the tree at rev as plain files (what the evaluation indexes); reused when there.

    Source files only (no tests, docs or examples): the gold is always source code, the index costs a third of
    the embedding time on a CPU, and the base and tuned models search the same files.
    """
    marker = target.parent / f"{target.name}.rev"
    if target.is_dir() and marker.is_file() and marker.read_text() == rev:
        return target
    paths = [p for p in tree_files(repo_dir, rev) if is_source_code(p)]
    if not paths:
        raise TuneError(f"{repo_dir} has no source files at {rev[:10]}")
    data = git(repo_dir, "archive", "--format=tar", rev, "--", *paths)
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(target, filter="data")
    marker.write_text(rev)
    return target


def heldout_set(repo: str, index_name: str, root: Path, heldout: list[HeldOut]) -> QuestionSet:
    """Held-out commits as questions with gold spans taken from the snapshot the index is built from."""
    questions: list[Question] = []
    spans: dict[str, list[Span]] = {}
    defs: dict[str, list] = {}
    for h in heldout:
        out: list[Span] = []
        for rel in h.gold_files:
            if rel not in defs:
                path = root / rel
                defs[rel] = chunk_file(rel, path.read_bytes()).definitions if path.is_file() else []
            out += [Span(rel, d.start_line, d.end_line) for d in defs[rel] if d.qualified_name in h.gold_symbols]
        questions.append(Question(h.id, index_name, h.query, tuple(h.gold_files), tuple(h.gold_symbols)))
        spans[h.id] = out
    return QuestionSet(f"{repo} held-out", index_name, questions, spans)


def eval_settings(home: Path, model: Path, repos: list[RepoConfig], onnx_cache: Path, base: Settings) -> Settings:
    """A scratch installation that indexes `repos` with `model`, with the user's embedding runtime choices."""
    emb = base.embedding.model_dump() | {"model_path": str(model), "cache_dir": str(onnx_cache)}
    return Settings(home=home, repos=repos, embedding=EmbeddingSettings(**emb), index=base.index,
                    search=base.search)


def build_index(settings: Settings, log: Callable[[str], None]) -> float:
    from indexer.pipeline.run import Indexer

    t0 = time.perf_counter()
    result = Indexer(settings).run(settings.repos, fetch=False)
    if result.failed:
        raise TuneError("; ".join(f"{r.name}: {r.error}" for r in result.failed))
    if result.full_rebuild_reason:
        log(f"  rebuilt: {result.full_rebuild_reason}")
    return time.perf_counter() - t0


def score_sets(settings: Settings, sets: list[QuestionSet]) -> dict[str, dict[str, dict]]:
    """{set name: {mode: summary}} for dense-only and hybrid search over the scratch index."""
    from app.search.retriever import RankingOptions, Retriever
    from indexer.embedding.dense import embedder_for
    from indexer.reader import IndexReader

    embedder = embedder_for(settings)
    options = {"dense": RankingOptions(sparse=False, symbols=False, paths=False, roles=False),
               "hybrid": RankingOptions()}
    out: dict[str, dict[str, dict]] = {}
    with IndexReader(settings) as reader:
        for mode in MODES:
            retriever = Retriever(reader, embedder, settings.search, options=options[mode])
            for qs in sets:
                scores = []
                for q in qs.questions:
                    hits = retriever.search(q.query, k=FETCH, repos=[qs.repo])
                    ranking = Ranking([Span(h.path, h.start_line, h.end_line) for h in hits])
                    scores.append(score(q, qs.spans[q.id], ranking))
                s = summarize(scores)
                out.setdefault(qs.name, {})[mode] = {"n": s.n, "file@5": round(s.hit5, 3), "mrr@10": round(s.mrr, 3),
                                                     "sym@10": round(s.symbol10 or 0.0, 3),
                                                     "file@1": round(s.hit1, 3)}
    return out


def evaluate_models(models: dict[str, Path], repos: list[RepoConfig], sets: list[QuestionSet], workdir: Path,
                    base: Settings, log: Callable[[str], None] = print) -> dict[str, dict]:
    """{label: {"index_seconds": s, "sets": {set: {mode: summary}}}} for each model, e.g. base and tuned."""
    from indexer.embedding.dense import model_identity

    results: dict[str, dict] = {}
    for label, model in models.items():
        home = workdir / "homes" / model_identity(model)
        # The user's own ONNX cache: exports are keyed by model identity, so the base's is reused and the tuned
        # one's is ready for the real index.
        onnx_cache = Path(base.embedding.cache_dir).expanduser() if base.embedding.cache_dir else \
            base.home / "models"
        settings = eval_settings(home, model, repos, onnx_cache, base)
        log(f"indexing {len(repos)} evaluation trees with the {label} model ({model.name})")
        seconds = build_index(settings, log)
        results[label] = {"model": model.name, "index_seconds": round(seconds, 1),
                          "sets": score_sets(settings, sets)}
    return results


def handwritten_sets(names: list[str], sources: Path, log: Callable[[str], None]) -> tuple[list[QuestionSet],
                                                                                          list[RepoConfig]]:
    """eval/*.jsonl questions for the pinned releases of `names` (fetched with pip/npm once, as `dayone eval`)."""
    from app.evaluation import retrieval_eval as ev

    pins = [p for p in ev.load_pins() if p.name in names]
    if not pins:
        return [], []
    roots = ev.fetch_sources(pins, sources, log)
    sets: list[QuestionSet] = []
    for pin in pins:
        questions = ev.load_questions(repos=[pin.name])
        if not questions:
            continue
        spans = {q.id: ev.gold_spans(q, roots[pin.name])[0] for q in questions}
        sets.append(QuestionSet(f"{pin.name} eval", pin.name, questions, spans))
    trees = []
    for pin in pins:
        config = ev.repo_config(pin, roots[pin.name])
        # As the held-out trees: source files only, the same for both models (the gold is source code).
        config.include = sorted(str(p.relative_to(roots[pin.name])) for p in roots[pin.name].rglob("*")
                                if p.is_file() and is_source_code(str(p.relative_to(roots[pin.name]))))
        trees.append(config)
    return sets, trees


def delta(results: dict[str, dict], set_name: str, mode: str, metric: str) -> float:
    return round(results["tuned"]["sets"][set_name][mode][metric] - results["base"]["sets"][set_name][mode][metric], 3)
