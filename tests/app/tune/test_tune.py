"""A tuned embedder that loses to the base is refused, for real: a model is really trained (on pairs whose
questions were shuffled away from their code, a deliberately wrong lesson), really indexed through the pipeline
(ONNX int8 export of the tuned weights included) and really scored on held-out commits. Switching, the rebuild it
causes and the roll-back are exercised on a real index."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.settings import Settings, load_settings
from app.tune.heldout import evaluate_models, export_snapshot, heldout_set
from app.tune.mining import TuneError
from app.tune.ops import active_name, maybe_retune, use_model, verdict
from app.tune.pairs import Pair, mine_repo
from app.tune.train import TrainConfig, read_card, train, write_card
from indexer.embedding.dense import default_model_path, embedder_identity, settings_model_path
from indexer.settings import RepoConfig
from tests.conftest import commit_all, git, make_repo, write_files

DOMAINS = {
    "billing": ["invoice total", "tax rate", "credit note", "discount code"],
    "shipping": ["parcel weight", "delivery estimate", "courier label", "warehouse stock"],
    "auth": ["password hash", "login attempt", "session token", "two factor code"],
    "search": ["query parser", "ranking score", "synonym list", "spelling fix"],
    "mail": ["email template", "bounce handler", "unsubscribe link", "newsletter batch"],
    "reports": ["monthly revenue", "chart export", "csv download", "churn metric"],
}


def _func(topic: str, version: int) -> str:
    name = topic.replace(" ", "_")
    return (f"def handle_{name}(request, store):\n    \"\"\"Work on the {topic} of a request.\"\"\"\n"
            f"    value = store.get('{name}', {version})\n    return value * {version + 1}\n\n\n")


def _module(domain: str, versions: dict[str, int]) -> str:
    return "".join(_func(t, versions[t]) for t in DOMAINS[domain])


@pytest.fixture(scope="module")
def shop_history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("tune") / "shop"
    versions = {t: 0 for topics in DOMAINS.values() for t in topics}
    make_repo(root, {f"shop/{d}.py": _module(d, versions) for d in DOMAINS})
    rng = random.Random(3)
    topics = [(d, t) for d, ts in DOMAINS.items() for t in ts]
    cutoff = ""
    for i in range(40):
        domain, topic = rng.choice(topics)
        versions[topic] += 1
        write_files(root, {f"shop/{domain}.py": _module(domain, versions)})
        sha = commit_all(root, f"Change how the {topic} is computed for {domain} requests")
        if i == 29:
            cutoff = sha
    return root, cutoff


def _shuffled(pairs: list[Pair]) -> list[Pair]:
    """The same texts with every question moved to another pair's code: a model trained on this learns wrong."""
    queries = [p.query for p in pairs]
    random.Random(0).shuffle(queries)
    return [Pair(p.kind, q, p.positive, p.negative, p.repo, p.source) for p, q in zip(pairs, queries, strict=True)]


def test_a_tuned_model_that_loses_is_refused_and_force_switches_and_base_rolls_back(
        home: Path, shop_history: tuple[Path, str]) -> None:
    root, cutoff = shop_history
    settings = load_settings()
    m = mine_repo("shop", root, cutoff=cutoff)
    assert len(m.heldout) == 10 and m.counts()["commit"] == 30
    worse = train(default_model_path(), _shuffled(m.pairs), settings.home / "models",
                  TrainConfig(epochs=1, batch_size=8, learning_rate=1e-3, max_seq_length=64, device="cpu"),
                  name_hint="shop")
    snap = export_snapshot(root, m.cutoff, home / "work" / "snap")
    sets = [heldout_set("shop", "shop-cutoff", snap, m.heldout)]
    results = evaluate_models({"base": default_model_path(), "tuned": worse.path},
                              [RepoConfig(name="shop-cutoff", path=str(snap))], sets, home / "work", settings,
                              log=lambda _: None)
    base, tuned = results["base"]["sets"]["shop held-out"], results["tuned"]["sets"]["shop held-out"]
    assert tuned["dense"]["mrr@10"] < base["dense"]["mrr@10"]  # the wrong lesson really made it worse
    beats, reasons = verdict(results, ["shop"])
    assert not beats and "file@5" in reasons[0]
    write_card(worse.path, {"model": worse.path.name, "beats_base": beats, "verdict": reasons, "evaluation": results})

    with pytest.raises(TuneError, match="did not beat the base.*--force"):
        use_model(settings, worse.path.name)
    assert active_name(settings) == "base" and settings_model_path(settings) == default_model_path()

    base_identity = embedder_identity(settings)
    use_model(settings, worse.path.name, force=True)
    assert settings_model_path(settings) == worse.path
    assert embedder_identity(settings) != base_identity  # the index's build key changes: it rebuilds

    use_model(settings, "base")
    assert settings_model_path(settings) == default_model_path()
    assert embedder_identity(settings) == base_identity


def test_switching_models_rebuilds_the_index_and_says_why(home: Path, tmp_path: Path) -> None:
    from indexer.pipeline.run import Indexer

    repo = make_repo(tmp_path / "r", {"app.py": "def hello():\n    return 1\n"})
    settings = load_settings()
    settings = Settings(**{**settings.model_dump(), "repos": [RepoConfig(name="r", path=str(repo))],
                           "embedding": {**settings.embedding.model_dump(), "backend": "torch"}})
    Indexer(settings).run(settings.repos)
    # A real copy of the base model under a tuned name: same weights, its own identity.
    import shutil

    tuned = settings.home / "models" / "tuned-20260101-000000-r-00000000"
    shutil.copytree(default_model_path(), tuned)
    write_card(tuned, {"model": tuned.name, "beats_base": True, "verdict": ["test copy"]})
    use_model(settings, tuned.name)
    result = Indexer(settings).run(settings.repos)
    assert result.full_rebuild_reason and "embedding model changed" in result.full_rebuild_reason
    assert tuned.name in result.full_rebuild_reason
    use_model(settings, "base")
    again = Indexer(settings).run(settings.repos)
    assert "embedding model changed" in (again.full_rebuild_reason or "")


def test_use_and_status_commands(home: Path) -> None:
    from app.doors.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["tune", "use", "tuned-nothing"])
    assert res.exit_code == 2 and "no tuned model named 'tuned-nothing'" in res.output
    res = runner.invoke(app, ["tune", "status", "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["active"] == "base"
    res = runner.invoke(app, ["tune", "use", "base"])
    assert res.exit_code == 0


def test_nightly_retune_waits_for_enough_new_commits(home: Path, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"a.py": "def f():\n    return 1\n"})
    head = git(repo, "rev-parse", "HEAD")
    settings = load_settings()
    settings = Settings(**{**settings.model_dump(), "repos": [RepoConfig(name="r", path=str(repo))],
                           "reindex": {"tune": True}, "tune": {"min_new_commits": 3}})
    said: list[str] = []
    assert maybe_retune(settings, log=said.append) is None and "no model was tuned yet" in said[-1]
    card_dir = settings.home / "models" / "tuned-20260101-000000-r-00000000"
    card_dir.mkdir(parents=True)
    write_card(card_dir, {"model": card_dir.name, "created": "2026-01-01T00:00:00Z",
                          "repos": {"r": {"head": head}}})
    for i in range(2):
        write_files(repo, {"a.py": f"def f():\n    return {i + 2}\n"})
        commit_all(repo, f"change {i}")
    assert maybe_retune(settings, log=said.append) is None and "2 new commits" in said[-1]
    off = Settings(**{**settings.model_dump(), "reindex": {"tune": False}})
    assert maybe_retune(off, log=said.append) is None
    assert read_card(card_dir)["repos"]["r"]["head"] == head
