"""Tuning as operations: tune and prove, switch the index to a model or back, list models, retune nightly.

Every tuned model is a folder `$DAYONE_HOME/models/tuned-*` holding sentence-transformers files and a card
(`dayone-tune.json`: what it was trained on, when, how long it took, and its held-out evaluation). The index uses
it once `$DAYONE_HOME/models/active-embedder` names it (indexer/embedding.py, only while embedding.model_path is
empty); the model's identity differs from the base's, so the next index run rebuilds and says why. Rolling back
is removing that pointer: `dayone tune use base`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from app.settings import Settings
from app.tune.mining import TuneError, git, has_history
from app.tune.pairs import Pair, RepoMining, mine_repo
from app.tune.train import TrainConfig, read_card, train, write_card
from indexer.embedding.dense import ACTIVE_EMBEDDER_FILE, active_embedder, default_model_path
from indexer.settings import RepoConfig

Log = Callable[[str], None]


def models_dir(settings: Settings) -> Path:
    return settings.home / "models"


def base_model(settings: Settings) -> Path:
    """What tuning starts from: the configured model, else the packaged MiniLM; never an earlier tuned model,
    so retuning does not drift further from the base with every night."""
    cfg = settings.embedding
    return Path(cfg.model_path).expanduser() if cfg.model_path else default_model_path()


def repo_dir(settings: Settings, repo: RepoConfig) -> Path:
    """The git history of a configured repository: its local work tree, or the clone the indexer keeps."""
    for candidate in ([Path(repo.path).expanduser()] if repo.path else []) + [settings.repo_cache_dir / repo.name]:
        if has_history(candidate):
            return candidate
    raise TuneError(f"repository {repo.name} has no git history here (a plain directory, or not indexed yet): "
                    "tuning learns from commits")


def pick_repos(settings: Settings, names: list[str]) -> list[RepoConfig]:
    by_name = {r.name: r for r in settings.repos}
    if unknown := [n for n in names if n not in by_name]:
        raise TuneError(f"no repository named {unknown[0]!r} in the configuration "
                        f"(configured: {', '.join(by_name) or 'none'})")
    if names:
        return [by_name[n] for n in names]
    return [r for r in settings.repos if r.path and has_history(Path(r.path).expanduser())
            or has_history(settings.repo_cache_dir / r.name)]


@dataclass
class TuneReport:
    model: Path
    card: dict
    beats_base: bool
    switched: bool
    reasons: list[str] = field(default_factory=list)


def verdict(evaluation: dict, tuned_repos: list[str]) -> tuple[bool, list[str]]:
    """Whether the tuned model beats the base on held-out commits of the repositories it was tuned on.

    Averaged over those repositories: MRR@10 of dense and hybrid search together must rise, hybrid MRR@10 (what
    users get) must not drop, and hybrid file@5 may drop by at most 0.01 (one question in a hundred). MRR rather
    than file@5 decides because file@5 saturates on small codebases (0.93-1.0 for the base model on the
    4-22 source files of our evaluation trees; docs/tuning.md), while the rank of the right file still moves.
    """
    base, tuned = evaluation["base"]["sets"], evaluation["tuned"]["sets"]
    names = [f"{r} held-out" for r in tuned_repos if f"{r} held-out" in base]
    if not names:
        return False, ["no held-out commits to judge by"]

    def gain(mode: str, metric: str) -> float:
        return round(sum(tuned[n][mode][metric] - base[n][mode][metric] for n in names) / len(names), 3)

    d = {(mode, metric): gain(mode, metric) for mode in ("dense", "hybrid") for metric in ("file@5", "mrr@10")}
    beats = (d["dense", "mrr@10"] + d["hybrid", "mrr@10"] > 0 and d["hybrid", "mrr@10"] >= 0
             and d["hybrid", "file@5"] >= -0.01)
    reasons = [f"held-out MRR@10 dense {d['dense', 'mrr@10']:+.3f}, hybrid {d['hybrid', 'mrr@10']:+.3f}; "
               f"file@5 dense {d['dense', 'file@5']:+.3f}, hybrid {d['hybrid', 'file@5']:+.3f} "
               f"(mean over {', '.join(tuned_repos)})"]
    return beats, reasons


MINING_VERSION = "2"  # bump when mining changes what it returns: cached minings are then redone


def mined(settings: Settings, repo: RepoConfig, cutoff: str | None) -> RepoMining:
    """mine_repo, cached per repository head and parameters: a rerun (or the nightly check) does not re-read
    thousands of commits when nothing changed."""
    import hashlib
    import pickle

    from app.tune.mining import head

    cfg = settings.tune
    path = repo_dir(settings, repo)
    key = hashlib.sha256(f"{MINING_VERSION}|{head(path)}|{cutoff}|{cfg.holdout}|{cfg.max_snapshot_pairs}".encode())
    cache = settings.home / "tune-work" / "mined" / f"{repo.name}-{key.hexdigest()[:16]}.pkl"
    if cache.is_file():
        try:
            with cache.open("rb") as fh:
                return pickle.load(fh)
        except (OSError, pickle.UnpicklingError, AttributeError, EOFError):
            pass  # an unreadable cache is mined again
    m = mine_repo(repo.name, path, holdout=cfg.holdout, cutoff=cutoff, max_snapshot_pairs=cfg.max_snapshot_pairs)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    with tmp.open("wb") as fh:
        pickle.dump(m, fh)
    tmp.replace(cache)
    return m


def budget(pairs: list[Pair], max_pairs: int, max_targets: int, seed: int = 0) -> list[Pair]:
    """At most `max_targets` changed definitions per commit, then at most `max_pairs` pairs: commit pairs (the
    ones that look like the questions people ask) fill up to two thirds, the other kinds share the rest."""
    import random

    rng = random.Random(seed)
    per_commit: dict[str, int] = {}
    commits: list[Pair] = []
    for p in pairs:
        if p.kind == "commit":
            per_commit[p.source] = per_commit.get(p.source, 0) + 1
            if per_commit[p.source] <= max_targets:
                commits.append(p)
    others = [p for p in pairs if p.kind != "commit"]
    if len(commits) + len(others) <= max_pairs:
        return commits + others
    keep_commits = min(len(commits), max(max_pairs - len(others), (2 * max_pairs) // 3))
    commits = rng.sample(commits, keep_commits)
    return commits + rng.sample(others, min(len(others), max_pairs - keep_commits))


def tune_embedder(settings: Settings, names: list[str] | None = None, *, control: list[str] | None = None,
                  cutoff: str | None = None, force: bool = False, switch: bool = True, device: str = "auto",
                  log: Log = print, progress: Callable[[int, int, float], None] | None = None) -> TuneReport:
    """Mine, train, prove on held-out commits and hand-written questions, and switch only when it wins."""
    from app.tune import heldout as ho

    cfg = settings.tune
    repos = pick_repos(settings, names if names is not None else cfg.repos)
    if not repos:
        raise TuneError("no configured repository has git history to tune on")
    control = list(cfg.control if control is None else control)
    by_name = {r.name: r for r in settings.repos}
    t0 = time.perf_counter()
    minings: dict[str, RepoMining] = {}
    for repo in [*repos, *(by_name[c] for c in control if c in by_name and c not in {r.name for r in repos})]:
        log(f"mining {repo.name}: commits, docstrings, names and docs")
        m = mined(settings, repo, cutoff)
        minings[repo.name] = m
        log(f"  {m.commits_train} commits before the cut-off {m.cutoff[:10]}, {len(m.heldout)} held out; "
            f"pairs {m.counts()}; dropped {m.dropped}")
    mine_seconds = time.perf_counter() - t0
    pairs = budget([p for r in repos for p in minings[r.name].pairs], cfg.max_pairs, cfg.max_targets)
    base = base_model(settings)
    tcfg = TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
                       max_seq_length=cfg.max_seq_length, train_layers=cfg.train_layers, device=device)
    kinds = {k: sum(p.kind == k for p in pairs) for k in ("commit", "docstring", "identifier", "docs")}
    log(f"training on {len(pairs)} pairs {kinds} from {', '.join(r.name for r in repos)} ({cfg.epochs} epoch(s))")
    result = train(base, pairs, models_dir(settings), tcfg, name_hint="-".join(r.name for r in repos),
                   progress=progress)
    log(f"  trained in {result.seconds:.0f} s on {result.device}: {result.path}")
    card: dict = {
        "model": result.path.name, "model_id": result.model_id, "base": str(base),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "repos": {r.name: minings[r.name].summary() for r in repos},
        "control": control,
        "train": {"pairs": result.pairs, "kinds": kinds, "steps": result.steps, "seconds": round(result.seconds, 1),
                  "device": result.device, "final_loss": round(result.final_loss, 4), "config": tcfg.__dict__},
        "mine_seconds": round(mine_seconds, 1),
    }
    write_card(result.path, card)
    t1 = time.perf_counter()
    work = settings.home / "tune-work"
    sets: list[ho.QuestionSet] = []
    trees: list[RepoConfig] = []
    for name, m in minings.items():
        root = ho.export_snapshot(repo_dir(settings, by_name[name]), m.cutoff,
                                  work / "snapshots" / f"{name}-{m.cutoff[:10]}")
        index_name = f"{name}-cutoff"
        trees.append(RepoConfig(name=index_name, path=str(root)))
        sets.append(ho.heldout_set(name, index_name, root, m.heldout))
    eval_names = [r.name for r in repos] + control
    hand_sets, hand_trees = ho.handwritten_sets(eval_names, work / "eval-sources", log)
    sets += hand_sets
    trees += hand_trees
    evaluation = ho.evaluate_models({"base": base, "tuned": result.path}, trees, sets, work, settings, log)
    card["evaluation"] = evaluation
    card["eval_seconds"] = round(time.perf_counter() - t1, 1)
    beats, reasons = verdict(evaluation, [r.name for r in repos])
    card["beats_base"] = beats
    card["verdict"] = reasons
    write_card(result.path, card)
    switched = False
    if switch and (beats or force):
        use_model(settings, result.path.name, force=force)
        switched = True
    return TuneReport(result.path, card, beats, switched, reasons)


def tuned_models(settings: Settings) -> list[tuple[Path, dict]]:
    folder = models_dir(settings)
    if not folder.is_dir():
        return []
    return [(p, read_card(p)) for p in sorted(folder.glob("tuned-*")) if p.is_dir()]


def use_model(settings: Settings, name: str, *, force: bool = False) -> Path | None:
    """Make `name` (a tuned model's folder name, or "base") the embedder the index uses; returns its folder.

    A model whose card says it did not beat the base is refused unless `force`: switching rebuilds the whole
    index, and it would make search worse.
    """
    pointer = models_dir(settings) / ACTIVE_EMBEDDER_FILE
    if name == "base":
        pointer.unlink(missing_ok=True)
        return None
    folder = models_dir(settings) / name
    if not folder.is_dir() or not name.startswith("tuned-"):
        known = ", ".join(p.name for p, _ in tuned_models(settings)) or "none"
        raise TuneError(f"no tuned model named {name!r} under {models_dir(settings)} (known: {known})")
    card = read_card(folder)
    if not card.get("beats_base") and not force:
        why = "; ".join(card.get("verdict", [])) or "it has no held-out evaluation"
        raise TuneError(f"{name} did not beat the base model on held-out commits ({why}); "
                        "use --force to switch anyway")
    pointer.parent.mkdir(parents=True, exist_ok=True)
    tmp = pointer.with_suffix(".tmp")
    tmp.write_text(name + "\n")
    tmp.replace(pointer)
    return folder


def active_name(settings: Settings) -> str:
    path = active_embedder(settings.home)
    return path.name if path else "base"


def new_commits_since(settings: Settings, card: dict) -> int:
    """Commits that reached the tuned repositories after the last tune saw their heads."""
    total = 0
    by_name = {r.name: r for r in settings.repos}
    for name, info in card.get("repos", {}).items():
        if name not in by_name:
            continue
        try:
            path = repo_dir(settings, by_name[name])
            total += int(git(path, "rev-list", "--count", "--no-merges", f"{info['head']}..HEAD").decode().strip())
        except (TuneError, KeyError, ValueError):
            total += settings.tune.min_new_commits  # history rewritten or unknown: count it as enough
    return total


def maybe_retune(settings: Settings, *, log: Log = print) -> TuneReport | None:
    """After a nightly index run: retune when `reindex.tune` is on and enough new commits arrived.

    Returns the report when it tuned (the new model is switched to only if it beats the base), else None. The
    first retune needs an earlier `dayone tune embedder`: a first tune is a decision a person makes.
    """
    if not settings.reindex.tune:
        return None
    cards = [c for _, c in tuned_models(settings) if c.get("repos")]
    if not cards:
        log("reindex.tune is on but no model was tuned yet: run `dayone tune embedder` once")
        return None
    last = max(cards, key=lambda c: c.get("created", ""))
    fresh = new_commits_since(settings, last)
    if fresh < settings.tune.min_new_commits:
        log(f"retune skipped: {fresh} new commits since {last['model']} (needs {settings.tune.min_new_commits})")
        return None
    log(f"retuning: {fresh} new commits since {last['model']}")
    return tune_embedder(settings, list(last["repos"]), log=log)
