"""The retrieval evaluation: its questions' gold checks against the pinned sources, and its metrics."""

from __future__ import annotations

import hashlib
import io
import json
import sys
import tarfile
from pathlib import Path

import pytest

from app.evaluation import retrieval_eval as ev


@pytest.fixture(scope="session")
def pinned_roots(request) -> dict[str, Path]:
    """The pinned codebases, fetched once with pip/npm into pytest's cache and reused by later runs."""
    cache = Path(request.config.cache.mkdir("dayone-eval-sources"))
    return ev.fetch_sources(ev.load_pins(), cache, log=lambda _m: None)


def test_question_set_has_the_promised_shape():
    qs = ev.load_questions()
    pins = ev.load_pins()
    assert len(qs) >= 80
    assert {q.repo for q in qs} == {p.name for p in pins} and len(pins) >= 4
    assert {p.registry for p in pins} == {"pypi", "npm"}
    languages = {Path(f).suffix for q in qs for f in q.gold_files}
    assert {".py", ".js"} <= languages
    assert all(q.gold_files and q.gold_symbols and len(q.query) > 20 for q in qs)
    # Most questions must not simply name the function they are about.
    named = [q for q in qs if any(s.rsplit(".", 1)[-1] in q.query for s in q.gold_symbols)]
    assert len(named) <= len(qs) // 2


def test_every_gold_file_exists_and_every_gold_symbol_is_defined_there(pinned_roots):
    assert ev.check_gold(ev.load_questions(), pinned_roots) == []


def test_gold_check_reports_a_wrong_symbol_and_a_missing_file(pinned_roots):
    bad = [ev.Question("x1", "click", "q", ("src/click/core.py",), ("Context.invoke", "Context.no_such_thing")),
           ev.Question("x2", "click", "q", ("src/click/nowhere.py",), ("main",))]
    problems = ev.check_gold(bad, pinned_roots)
    assert any("x1" in p and "Context.no_such_thing" in p for p in problems)
    assert any("x2" in p and "nowhere.py" in p for p in problems)
    assert not any("Context.invoke " in p for p in problems)


def test_gold_spans_are_the_definitions_lines(pinned_roots):
    q = ev.Question("s", "itsdangerous", "q", ("src/itsdangerous/signer.py",), ("Signer.derive_key",))
    spans, problems = ev.gold_spans(q, pinned_roots["itsdangerous"])
    assert not problems and len(spans) == 1
    lines = (pinned_roots["itsdangerous"] / "src/itsdangerous/signer.py").read_text().splitlines()
    assert "def derive_key" in "\n".join(lines[spans[0].start - 1:spans[0].start + 1])


def _tarball(path: Path, top: str, files: dict[str, str]) -> str:
    with tarfile.open(path, "w:gz") as tar:
        for rel, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{top}/{rel}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_fetch_unpacks_a_pinned_archive_and_refuses_a_tampered_one(tmp_path):
    root = tmp_path / "sources"
    (root / "_archives").mkdir(parents=True)
    digest = _tarball(root / "_archives" / "demo-1.0.tar.gz", "demo-1.0", {"demo/a.py": "def a():\n    pass\n"})
    pin = ev.SourcePin("demo", "pypi", "demo", "1.0", "demo-1.0.tar.gz", "demo-1.0", digest)
    out = ev.fetch_sources([pin], root, log=lambda _m: None)
    assert (out["demo"] / "demo/a.py").read_text().startswith("def a")
    assert not (out["demo"] / ".dayone-eval-pin").exists()  # nothing of ours inside the indexed tree

    other = ev.SourcePin("other", "pypi", "other", "1.0", "other-1.0.tar.gz", "other-1.0", "0" * 64)
    _tarball(root / "_archives" / "other-1.0.tar.gz", "other-1.0", {"x.py": "x = 1\n"})
    with pytest.raises(ev.EvalError, match="sha256"):
        ev.fetch_sources([other], root, log=lambda _m: None)


def test_bad_question_line_names_file_and_line(tmp_path):
    (tmp_path / "r.jsonl").write_text('{"id": "a", "repo": "r", "query": "q", "gold_files": [], '
                                      '"gold_symbols": []}\n{"id": "b"}\n')
    with pytest.raises(ev.EvalError, match=r"r\.jsonl:2"):
        ev.load_questions(tmp_path)


def test_scores_and_summary():
    q = ev.Question("m", "r", "q", ("b.py",), ("f",))
    spans = [ev.Span("b.py", 10, 20)]
    ranking = ev.Ranking([ev.Span("a.py", 1, 5), ev.Span("a.py", 7, 9), ev.Span("b.py", 18, 30)])
    s = ev.score(q, spans, ranking)
    assert s.file_rank == 2 and s.symbol_hit is True  # distinct files: a.py, b.py
    assert (s.hit(1), s.hit(5), s.rr) == (0.0, 1.0, 0.5)
    miss = ev.score(q, spans, ev.Ranking([ev.Span("b.py", 21, 40)]))
    assert miss.file_rank == 1 and miss.symbol_hit is False  # the right file, but lines beside the symbol
    far = ev.score(q, spans, ev.Ranking([ev.Span(f"f{i}.py", 1, 1) for i in range(10)] + [ev.Span("b.py", 10, 10)]))
    assert far.file_rank is None and far.rr == 0.0
    summary = ev.summarize([s, miss, far], [0.01, 0.02, 0.03])
    assert (summary.n, round(summary.hit5, 3), round(summary.mrr, 3), summary.p50_ms) == (3, 0.667, 0.5, 20.0)
    assert round(summary.symbol10, 3) == 0.333


def test_bm25_files_ranks_by_rare_terms_and_file_length():
    engine = ev.BM25Files({
        "a.py": "def parse(): pass\n",
        "b.py": "def redirect(location):\n    return location\n",
        "c.md": "parse " + "the long document " * 20,
    })
    assert engine.rank("redirect location") == ["b.py"]
    assert engine.rank("parse") == ["a.py", "c.md"]  # same count, the long file is normalised down
    assert engine.rank("nothing matches zzz") == []


def test_table_has_each_repository_and_all():
    qs = [ev.Question("1", "x", "q", ("a",), ("s",)), ev.Question("2", "y", "q", ("a",), ("s",))]
    res = ev.SystemResult("sys", {"1": ev.Score(1, True), "2": ev.Score(None, False)}, {"1": 0.1, "2": 0.1})
    rows = ev.table([res], qs)
    assert [r[1] for r in rows] == ["x", "y", "all"]
    assert rows[-1][3:8] == ["0.50", "0.50", "0.50", "0.50", "0.50"]
    assert "| sys " in ev.format_table(rows) and json.dumps(rows)


def test_pin_globs_load_and_default_to_everything(tmp_path):
    (tmp_path / "sources.json").write_text(json.dumps({"repos": [
        {"name": "a", "registry": "pypi", "package": "a", "version": "1", "archive": "a-1.tar.gz", "strip": "a-1",
         "sha256": "0" * 64},
        {"name": "b", "registry": "pypi", "package": "b", "version": "1", "archive": "b-1.tar.gz", "strip": "b-1",
         "sha256": "0" * 64, "include": ["b/**"], "exclude": ["b/tests"]},
    ]}))
    a, b = ev.load_pins(tmp_path)
    assert (a.include, a.exclude) == ((), ())
    assert (b.include, b.exclude) == (("b/**",), ("b/tests",))
    cfg = ev.repo_config(b, tmp_path / "b")
    assert (cfg.include, cfg.exclude, cfg.path) == (["b/**"], ["b/tests"], str(tmp_path / "b"))
    (tmp_path / "sources.json").write_text(json.dumps({"repos": [
        {"name": "c", "registry": "pypi", "package": "c", "version": "1", "archive": "c-1.tar.gz", "strip": "c-1",
         "sha256": "0" * 64, "include": "c/**"}]}))
    with pytest.raises(ev.EvalError, match="include must be a list"):
        ev.load_pins(tmp_path)


def test_a_pins_include_globs_limit_what_is_indexed_and_what_the_baselines_search(tmp_path, home, embedder):
    from app.settings import load_settings

    root = tmp_path / "sources"
    (root / "_archives").mkdir(parents=True)
    digest = _tarball(root / "_archives" / "big-1.0.tar.gz", "big-1.0", {
        "big/core.py": "def handle_request(request):\n    return request\n",
        "big/util/text.py": "def slugify(value):\n    return value.lower()\n",
        "docs/conf.py": "project = 'big'\n",
        "tests/test_core.py": "def test_handle_request():\n    assert True\n",
        "setup.py": "from setuptools import setup\n\nsetup(name='big')\n",
    })
    pin = ev.SourcePin("big", "pypi", "big", "1.0", "big-1.0.tar.gz", "big-1.0", digest, include=("big/**",),
                       exclude=("big/util",))
    roots = ev.fetch_sources([pin], root, log=lambda _m: None)
    settings = load_settings()
    ev.ensure_indexed(settings, roots, log=lambda _m: None, pins=[pin], embedder=embedder)
    assert set(ev.indexed_files(settings, "big", roots["big"])) == {"big/core.py"}

    # The globs are part of what was indexed: other globs re-index, the same ones are a no-op.
    wider = ev.SourcePin(*[getattr(pin, f) for f in ("name", "registry", "package", "version", "archive", "strip",
                                                     "sha256")], include=("big/**",))
    ev.ensure_indexed(settings, roots, log=lambda _m: None, pins=[wider], embedder=embedder)
    assert set(ev.indexed_files(settings, "big", roots["big"])) == {"big/core.py", "big/util/text.py"}
    logged: list[str] = []
    ev.ensure_indexed(settings, roots, log=logged.append, pins=[wider], embedder=embedder)
    assert logged == []

    # New chunking rules: the index is rebuilt before anything is scored on it.
    with pytest.MonkeyPatch.context() as mp:
        import indexer.pipeline.run as pipeline

        mp.setattr(pipeline, "CHUNKER_VERSION", "test-next")
        ev.ensure_indexed(settings, roots, log=logged.append, pins=[wider], embedder=embedder)
        assert any("rebuilding" in line for line in logged)
        logged.clear()
        ev.ensure_indexed(settings, roots, log=logged.append, pins=[wider], embedder=embedder)
        assert logged == []  # rebuilt once, then a no-op again

    # A gold file the globs leave out could never be found: the gold check says so.
    q = ev.Question("g", "big", "where are tests", ("tests/test_core.py",), ("test_handle_request",))
    assert ev.check_gold([q], roots) == []
    assert any("left out" in p for p in ev.check_gold([q], roots, [pin]))


def test_the_llama_index_baseline_without_its_extra_is_one_clear_line(tmp_path, monkeypatch):
    """Without the `bench` extra the baseline said nothing until a traceback, after fetching every source. A None
    in sys.modules makes Python's import fail as for a package that is not installed."""
    monkeypatch.setitem(sys.modules, "llama_index.embeddings.huggingface", None)
    with pytest.raises(ev.EvalError, match=r"needs the bench extra: pip install -e '\.\[bench\]'"):
        ev.LlamaIndexBaseline(tmp_path, tmp_path)
