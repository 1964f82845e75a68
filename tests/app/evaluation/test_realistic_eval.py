"""`dayone eval --realistic`: snapshots of a git history are cloned from its bundle, indexed at their pinned
commit (not the branch head) and scored; a rerun reuses everything; missing bundles are said plainly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.evaluation import realistic as rl
from app.evaluation import retrieval_eval as ev
from tests.conftest import commit_all, git, make_repo, write_files

PAYMENTS = '''"""Payments."""


def charge_card(card, amount):
    """Charge a card; refuses non-positive amounts."""
    if amount <= 0:
        raise ValueError("amount must be positive")
    return card.charge(amount)


def refund(card, amount):
    return card.refund(amount)
'''
SLUGS = '''def slugify(title):
    return "-".join(title.lower().split())
'''


@pytest.fixture
def history(tmp_path) -> tuple[Path, str, Path]:
    """A two-commit history as a bundle: the snapshot is the first commit; the second renames charge_card,
    so a run that indexed the head instead of the pin would not find the gold symbol."""
    repo = make_repo(tmp_path / "shop", {"shop/payments.py": PAYMENTS, "shop/text.py": SLUGS,
                                         "tests/test_payments.py": "def test_charge_card():\n    assert True\n"})
    snapshot = git(repo, "rev-parse", "HEAD")
    write_files(repo, {"shop/payments.py": PAYMENTS.replace("charge_card", "charge")})
    commit_all(repo, "rename")
    bundles = tmp_path / "bundles"
    bundles.mkdir()
    git(repo, "bundle", "create", str(bundles / "shop.bundle"), "--all")
    data = tmp_path / "realistic"
    data.mkdir()
    (data / "sources.json").write_text(json.dumps({"repos": [
        {"name": f"shop-{snapshot[:8]}", "project": "shop", "bundle": "shop.bundle", "commit": snapshot}]}))
    rows = [
        {"id": "shop-1", "repo": f"shop-{snapshot[:8]}", "project": "shop", "split": "heldout",
         "query": "Refuse to charge a card zero or a negative amount\n\nCharging 0 went through to the card "
                  "processor. Raise ValueError instead. Added a test.",
         "gold_files": ["shop/payments.py"], "gold_symbols": ["charge_card"]},
        {"id": "shop-2", "repo": f"shop-{snapshot[:8]}", "project": "shop", "split": "dev",
         "query": "Slugs keep the title's words lower-cased and joined by dashes",
         "gold_files": ["shop/text.py"], "gold_symbols": ["slugify"]},
    ]
    (data / "questions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return data, snapshot, bundles


def test_snapshots_are_cloned_indexed_at_their_pin_and_scored(history, home, embedder):
    from app.search.retriever import Retriever
    from app.settings import load_settings
    from indexer.reader import IndexReader

    data, snapshot, bundles = history
    settings = load_settings()
    logged: list[str] = []
    qs, trees, spans = rl.prepare_realistic(settings, data, split="heldout", bundles=bundles, log=logged.append,
                                            embedder=embedder)
    name = f"shop-{snapshot[:8]}"
    assert [q.id for q in qs] == ["shop-1"]
    assert any("cloning shop.bundle" in line for line in logged)
    assert any(line.startswith(f"{name}: embedding") for line in logged)  # progress while it indexes
    # the tree and the index hold the pinned commit, not the branch head
    assert "def charge_card" in (trees[name] / "shop/payments.py").read_text()
    assert spans["shop-1"] and spans["shop-1"][0].path == "shop/payments.py"
    with IndexReader(settings) as reader:
        assert [r.commit for r in reader.manifest.repos() if r.name == name] == [snapshot]
        hits = Retriever(reader, embedder, settings.search).search(qs[0].query, k=10, repos=[name])
    ours = ev.score(qs[0], spans["shop-1"], ev.Ranking([ev.Span(h.path, h.start_line, h.end_line) for h in hits]))
    assert ours.file_rank == 1 and ours.symbol_hit  # the test file names charge_card too, yet ranks below

    corpora = {name: ev.indexed_files(settings, name, trees[name])}
    assert set(corpora[name]) == {"shop/payments.py", "shop/text.py", "tests/test_payments.py"}
    bm25 = ev.run_bm25(qs, spans, corpora)
    assert bm25.per_question["shop-1"].file_rank is not None

    # a rerun clones, extracts and indexes nothing; another split reads the same snapshot
    logged.clear()
    dev, _, _ = rl.prepare_realistic(settings, data, split="dev", bundles=bundles, log=logged.append,
                                     embedder=embedder)
    assert [q.id for q in dev] == ["shop-2"] and logged == []
    assert {q.id for q in rl.load_realistic(data, "all", ["shop"])} == {"shop-1", "shop-2"}


def test_missing_bundles_and_unknown_split_are_said_plainly(history, home, tmp_path):
    from app.settings import load_settings

    data, _, _ = history
    with pytest.raises(ev.EvalError, match="needs the git bundles.*--bundles"):
        rl.prepare_realistic(load_settings(), data, bundles=tmp_path / "nowhere", log=lambda _m: None)
    with pytest.raises(ev.EvalError, match="unknown split 'test'"):
        rl.load_realistic(data, "test")
    with pytest.raises(ev.EvalError, match="no heldout questions .* for express"):
        rl.prepare_realistic(load_settings(), data, repos=["express"], bundles=tmp_path, log=lambda _m: None)


def test_committed_snapshots_cover_every_question():
    snaps = {s.name for s in rl.load_snapshots()}
    qs = rl.load_realistic(split="all")
    assert qs and {q.repo for q in qs} <= snaps
    held, dev = rl.load_realistic(split="heldout"), rl.load_realistic(split="dev")
    assert len(held) + len(dev) == len(qs) and not {q.id for q in held} & {q.id for q in dev}


def test_cli_says_what_is_missing_in_one_line(home, tmp_path):
    import subprocess
    import sys

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "app.doors.cli", "eval", *args], capture_output=True, text=True)

    proc = run("--realistic", "--bundles", str(tmp_path / "nowhere"))
    assert proc.returncode != 0 and "needs the git bundles" in proc.stderr and "--bundles DIR" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = run("--split", "dev")
    assert proc.returncode != 0 and "add --realistic" in proc.stderr
