"""The realistic eval (eval/realistic/): real commit texts asked against pinned snapshots of real git histories.

Why a second eval: the hand-written questions of eval/*.jsonl were written with the code in view; these are the
texts people actually wrote (prose, code blocks, tracebacks), so they show what ranking does on messy input. The
data is committed; what a run needs besides it is the git bundles of the histories (`../shared/histories` beside
the checkout by default, `--bundles DIR` otherwise). Each project's bundle is cloned once (bare) under
`$DAYONE_HOME/eval-sources/_git/`, each snapshot is indexed from that clone at its pinned sha like any repository
(`RepoConfig(path=CLONE, branch=SHA)`) and its tree is extracted beside it (`git archive`) for the gold check and
for the baselines, which search the same files the index holds.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from app.evaluation.retrieval_eval import (
    EVAL_DIR,
    EvalError,
    Question,
    Span,
    SystemResult,
    check_gold,
    gold_spans,
    index_configs,
    run_ours,
)
from app.settings import Settings
from indexer.settings import RepoConfig

REALISTIC_DIR = EVAL_DIR / "realistic"
DEFAULT_BUNDLES = EVAL_DIR.parent.parent / "shared" / "histories"  # ../shared/histories beside the checkout
SPLITS = ("dev", "heldout", "all")


@dataclass(frozen=True)
class Snapshot:
    name: str
    project: str
    bundle: str
    commit: str


def load_snapshots(eval_dir: Path = REALISTIC_DIR) -> list[Snapshot]:
    path = eval_dir / "sources.json"
    try:
        return [Snapshot(r["name"], r["project"], r["bundle"], r["commit"])
                for r in json.loads(path.read_text())["repos"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EvalError(f"{path}: cannot read the snapshot pins ({exc})") from None


def load_realistic(eval_dir: Path = REALISTIC_DIR, split: str = "heldout", repos: Iterable[str] | None = None
                   ) -> list[Question]:
    """The questions of one split (`all`: both); `repos` names snapshots or whole projects (`koa`)."""
    if split not in SPLITS:
        raise EvalError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
    wanted = set(repos or ())
    path = eval_dir / "questions.jsonl"
    out: list[Question] = []
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise EvalError(f"{path}: cannot read the questions ({exc.strerror})") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
            q = Question(r["id"], r["repo"], r["query"], tuple(r["gold_files"]), tuple(r["gold_symbols"]))
            in_split = split == "all" or r["split"] == split
            project = r.get("project", "")
        except (ValueError, KeyError, TypeError) as exc:
            raise EvalError(f"{path}:{n}: not a question line ({exc})") from None
        if in_split and (not wanted or q.repo in wanted or project in wanted):
            out.append(q)
    return out


def _git(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", "-c", "core.hooksPath=/dev/null", *args], cwd=cwd, capture_output=True)


def prepare_snapshots(snapshots: list[Snapshot], bundles: Path, root: Path, log: Callable[[str], None] = print
                      ) -> tuple[dict[str, Path], list[RepoConfig]]:
    """Clone each project's bundle once (bare) under root/_git and extract each snapshot's tree under root/NAME;
    returns the trees and the RepoConfigs that index each snapshot from its clone at its sha."""
    trees: dict[str, Path] = {}
    configs: list[RepoConfig] = []
    for snap in snapshots:
        clone = root / "_git" / f"{snap.project}.git"
        has_commit = clone.is_dir() and _git(["cat-file", "-e", f"{snap.commit}^{{commit}}"], clone).returncode == 0
        if not has_commit:
            bundle = bundles / snap.bundle
            if not bundle.is_file():
                raise EvalError(f"{snap.name}: no git bundle {bundle} (pass --bundles DIR, the folder with "
                                f"{snap.bundle})")
            if clone.is_dir():
                log(f"fetching {snap.bundle} into {clone}")
                proc = _git(["fetch", "-q", str(bundle), "+refs/*:refs/*"], clone)
            else:
                log(f"cloning {snap.bundle} into {clone} (once)")
                clone.parent.mkdir(parents=True, exist_ok=True)
                proc = _git(["clone", "-q", "--bare", str(bundle), str(clone)])
            if proc.returncode != 0 or _git(["cat-file", "-e", f"{snap.commit}^{{commit}}"], clone).returncode:
                reason = proc.stderr.decode(errors="replace").strip()[-300:] or "the pinned commit is not in it"
                raise EvalError(f"{snap.name}: cannot get commit {snap.commit[:12]} from {bundle}: {reason}")
        tree = root / snap.name
        marker = root / f"{snap.name}.pin"  # beside the tree, not in it: the tree is what the baselines read
        if not (tree.is_dir() and marker.is_file() and marker.read_text() == snap.commit):
            log(f"extracting {snap.name} at {snap.commit[:12]}")
            archive = _git(["archive", "--format=tar", snap.commit], clone)
            if archive.returncode != 0:
                raise EvalError(f"{snap.name}: git archive failed: {archive.stderr.decode(errors='replace')[-300:]}")
            root.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=root) as tmp:
                tar_path = Path(tmp) / "tree.tar"
                tar_path.write_bytes(archive.stdout)
                with tarfile.open(tar_path) as tar:
                    tar.extractall(Path(tmp) / "tree", filter="data")
                shutil.rmtree(tree, ignore_errors=True)
                shutil.move(str(Path(tmp) / "tree"), tree)
            marker.write_text(snap.commit)
        trees[snap.name] = tree
        configs.append(RepoConfig(name=snap.name, path=str(clone), branch=snap.commit))
    return trees, configs


class LineProgress:
    """The indexer's progress as plain lines (the eval's log goes to stderr, one line per step and batch)."""

    def __init__(self, log: Callable[[str], None]):
        self.log = log
        self.state: dict[str, list] = {}

    def start(self, key: str, description: str, total: int) -> None:
        self.state[key] = [description, total, 0]
        if total:
            self.log(f"{description}: 0/{total}")

    def advance(self, key: str, n: int = 1) -> None:
        st = self.state.setdefault(key, [key, 0, 0])
        st[2] += n
        if "embedding" in st[0]:  # parsing is quick; embedding is where the minutes go
            self.log(f"{st[0]}: {st[2]}/{st[1]}")

    def finish(self, key: str) -> None:
        self.state.pop(key, None)

    def message(self, text: str) -> None:
        self.log(text)


def prepare_realistic(settings: Settings, eval_dir: Path = REALISTIC_DIR, *, split: str = "heldout",
                      repos: list[str] | None = None, bundles: Path | None = None,
                      log: Callable[[str], None] = print, embedder: object = None
                      ) -> tuple[list[Question], dict[str, Path], dict[str, list[Span]]]:
    """Everything a realistic run needs: the split's questions, their snapshots cloned, extracted and indexed,
    and the gold spans; gold problems stop the run."""
    from app.evaluation.retrieval_eval import sources_root

    questions = load_realistic(eval_dir, split, repos)
    if not questions:
        raise EvalError(f"no {split} questions in {eval_dir}" + (f" for {', '.join(repos)}" if repos else ""))
    needed = {q.repo for q in questions}
    snapshots = [s for s in load_snapshots(eval_dir) if s.name in needed]
    if unknown := sorted(needed - {s.name for s in snapshots}):
        raise EvalError(f"question snapshot {unknown[0]!r} is not pinned in {eval_dir / 'sources.json'}")
    bundles = bundles or DEFAULT_BUNDLES
    if not bundles.is_dir():
        raise EvalError(f"the realistic eval needs the git bundles of its histories: no folder {bundles} "
                        "(pass --bundles DIR)")
    trees, configs = prepare_snapshots(snapshots, bundles, sources_root(settings), log)
    if problems := check_gold(questions, trees):
        raise EvalError(f"{len(problems)} gold problems, first: {problems[0]}")
    index_configs(settings, configs, log, embedder=embedder, progress=LineProgress(log))
    spans = {q.id: gold_spans(q, trees[q.repo])[0] for q in questions}
    return questions, trees, spans


def run_reranked(settings: Settings, questions: list[Question], spans: dict[str, list[Span]],
                 log: Callable[[str], None] = print) -> SystemResult:
    """The "+ rerank" row (`--rerank`, either eval): our search, then the answering model's listwise rerank of
    the top `search.rerank_files` files (app/search/rerank.py). The model is loaded first, so one that cannot
    load stops the run instead of leaving a row equal to ours; how often it gave no usable order, and the
    seconds it added per question, go to the log, since p50 ms mixes them with the search's own time."""
    from app.answer.chat_model import load_chat_model
    from app.search.rerank import Reranker

    model = load_chat_model(settings)
    reranker = Reranker(lambda: model, files=settings.search.rerank_files)
    result = run_ours(settings, questions, spans, name=f"+ rerank ({model.name})", reranker=reranker)
    if reranker.seconds:
        log(f"rerank with {model.name}: {len(reranker.seconds)} questions, {reranker.reordered} reordered, "
            f"{reranker.skipped} kept the search order (no usable answer); model seconds per question p50 "
            f"{statistics.median(reranker.seconds):.2f}, max {max(reranker.seconds):.2f}")
    return result


__all__ = ["DEFAULT_BUNDLES", "REALISTIC_DIR", "SPLITS", "LineProgress", "Snapshot", "load_realistic",
           "load_snapshots", "prepare_realistic", "prepare_snapshots", "run_reranked"]
