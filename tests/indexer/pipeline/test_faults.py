"""Faults during `dayone index`: kill -9 at 20 points of a run, a full disk, a corrupt manifest.

Each kill hits a real `python -m app.doors.cli index` process. Most kill points are injected (the child wraps one
pipeline step and SIGKILLs itself right before or after its n-th call, so every stage of a run is covered);
the rest are plain `kill -9` from outside after a random delay once the run holds the writer lock. After each
kill the published index must be intact and searchable, and the next run must end with exactly the chunk
set (ids and payload locations) of a fresh build. test_pipeline.py has the single-kill and corrupt
manifest basics; this file adds the sweep and the disk.
"""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.doors.cli import app
from app.settings import load_settings
from indexer.embedding.dense import embedder_for
from indexer.pipeline.generations import IndexDir
from indexer.pipeline.run import Indexer
from indexer.reader import IndexReader
from indexer.settings import RepoConfig
from tests.conftest import ROOT, commit_all, git, make_repo, write_files

runner = CliRunner()
N_KILLS = 20

# Runs in the child: wrap one step, SIGKILL at its n-th call. Test-only, so the product code has no hooks.
CHILD = r'''
import functools, os, signal, sys
point, when, nth = sys.argv[1], sys.argv[2], int(sys.argv[3])
import indexer.pipeline.generations as gen, indexer.catalog.manifest as mf, indexer.pipeline.run as pl
import indexer.store as st
pl.EMBED_BATCH_CHUNKS = 4  # many small upserts, so a kill can land between any two
calls = 0

def wrap(owner, name, match=lambda *a, **k: True):
    orig = getattr(owner, name)
    @functools.wraps(orig)
    def step(*args, **kwargs):
        global calls
        hit = match(*args, **kwargs)
        calls += hit
        if hit and when == "before" and calls == nth:
            os.kill(os.getpid(), signal.SIGKILL)
        result = orig(*args, **kwargs)
        if hit and when == "after" and calls == nth:
            os.kill(os.getpid(), signal.SIGKILL)
        return result
    setattr(owner, name, step)

owners = {
    "collect_garbage": (gen.IndexDir, "collect_garbage"),
    "copy_manifest": (pl, "copy_manifest"),
    "remove_file": (mf.Manifest, "remove_file"),
    "add_file": (mf.Manifest, "add_file"),
    "upsert": (st.EdgeStore, "upsert"),
    "delete": (st.EdgeStore, "delete"),
    "set_repo": (mf.Manifest, "set_repo"),
    "flush": (st.EdgeStore, "flush"),
    "fsync_tree": (gen, "_fsync_tree"),
}
if point == "replace-current":
    wrap(gen.os, "replace", match=lambda src, dst, *a, **k: str(dst).endswith("CURRENT"))
elif point == "copytree":  # copytree calls itself for every subfolder: count the whole shard copy once
    wrap(pl.shutil, "copytree", match=lambda src, dst, *a, **k: str(dst).endswith("shard"))
elif point != "none":
    wrap(*owners[point])
from app.doors.cli import main
sys.argv = ["dayone", *sys.argv[4:]]
main()
'''

# (point, before/after, highest n to draw, or -n for exactly n): every stage from taking the lock to deleting old
# generations.
INJECTED = [
    ("collect_garbage", "after", 1),  # lock held, leftovers of earlier kills removed
    ("copy_manifest", "after", 1),  # new generation's manifest copied
    ("copytree", "after", 1),  # new generation's shard copied
    ("remove_file", "after", 3),  # changed and deleted files' rows dropped
    ("add_file", "before", 12),  # parsing
    ("add_file", "after", 12),
    ("upsert", "before", 6),  # embedding and storing
    ("upsert", "after", 6),
    ("delete", "before", 1),  # stale chunks removed from the store
    ("delete", "after", 1),
    ("set_repo", "after", 1),
    ("flush", "before", 1),
    ("flush", "after", 1),
    ("fsync_tree", "after", 1),  # publishing, before CURRENT moves
    ("replace-current", "before", 1),
    ("replace-current", "after", 1),  # published, old generations not yet collected
    ("collect_garbage", "after", -2),  # negative: exactly the 2nd call (after publishing), not drawn
]


def _module(i: int, variant: str = "") -> str:
    return (f'"""Module {i}{variant}."""\n\n\ndef handler_{i}(x):\n    """Handle case {i}{variant}."""\n'
            f"    return x * {i}\n\n\nclass Thing{i}:\n    def run(self):\n        return {i}\n")


def _state(settings) -> tuple[set[str], set[tuple]]:
    """The chunk ids (store and manifest must agree) and what their payloads say."""
    with IndexReader(settings) as reader:
        ids = set(reader.store.iter_ids())
        assert ids == reader.manifest.all_chunk_ids(), "store and manifest disagree"
        hits = reader.store.retrieve(sorted(ids))
    return ids, {(h.payload["path"], h.payload["symbol"], h.payload["start_line"], h.payload["end_line"],
                  h.payload["text"]) for h in hits}


def _searchable(home: Path) -> bool:
    result = runner.invoke(app, ["search", "--json", "handle case"],
                           env={"DAYONE_HOME": str(home), "DAYONE_EMBEDDING__CACHE_DIR": str(_ONNX_CACHE)})
    return result.exit_code == 0 and bool(json.loads(result.stdout)["hits"])


_ONNX_CACHE: Path | None = None


def onnx_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.getbasetemp() / "onnx-models"  # the folder the `home` fixture uses too


@pytest.fixture(scope="module")
def embedder(tmp_path_factory):
    """The embedder the `dayone index` children build with (settings' backend), so every run here shares one build
    key: a child must continue the index it finds, not rebuild it because the test's vectors came from torch."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAYONE_EMBEDDING__CACHE_DIR", str(onnx_cache(tmp_path_factory)))
        return embedder_for(load_settings())


@pytest.fixture(scope="module")
def scenario(tmp_path_factory, embedder):
    """A published index of version 1 of a tiny repository, and a fresh build of version 2 to converge to."""
    global _ONNX_CACHE
    _ONNX_CACHE = onnx_cache(tmp_path_factory)
    tmp = tmp_path_factory.mktemp("faults")
    repo = make_repo(tmp / "r", {f"pkg/mod{i}.py": _module(i) for i in range(12)})
    cfg = RepoConfig(name="r", path=str(repo))
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("DAYONE_CONFIG", raising=False)
        mp.delenv("DAYONE_QDRANT_URL", raising=False)
        mp.setenv("DAYONE_HOME", str(tmp / "v1"))
        v1 = load_settings()
        Indexer(v1, embedder=embedder).run([cfg])
        before = _state(v1)
        # version 2: 4 changed, 2 deleted, 1 renamed, 8 added
        write_files(repo, {f"pkg/mod{i}.py": _module(i, " (v2)") for i in range(4)})
        write_files(repo, {f"new/extra{i}.py": _module(100 + i) for i in range(8)})
        os.remove(repo / "pkg/mod10.py")
        os.remove(repo / "pkg/mod11.py")
        git(repo, "mv", "pkg/mod9.py", "pkg/renamed9.py")
        commit_all(repo)
        mp.setenv("DAYONE_HOME", str(tmp / "fresh"))
        fresh = load_settings()
        Indexer(fresh, embedder=embedder).run([cfg])
        target = _state(fresh)
    assert before[0] != target[0]
    yield tmp, repo, cfg, before, target


def _child(home: Path, repo: Path, point: str, when: str, nth: int, *extra: str,
           preexec=None) -> subprocess.Popen:
    # The exported embedding model lives outside the home under test (a full disk must hit the index, not it).
    env = {**os.environ, "DAYONE_HOME": str(home), "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
           "DAYONE_EMBEDDING__CACHE_DIR": str(_ONNX_CACHE)}
    env.pop("DAYONE_CONFIG", None)
    return subprocess.Popen([sys.executable, "-c", CHILD, point, when, str(nth), "index", str(repo), "--name", "r",
                             *extra], env=env, cwd=home.parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, preexec_fn=preexec)


def _wait_for_lock(home: Path, pid: int, proc: subprocess.Popen, timeout: float = 300) -> bool:
    lock = home / "index" / "index.lock"
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        try:
            if json.loads(lock.read_text() or "{}").get("pid") == pid:
                return True
        except (OSError, ValueError):
            pass
        time.sleep(0.02)
    return False


def test_kill_9_at_20_points_keeps_the_index_and_reruns_converge(scenario, embedder, monkeypatch, capsys):
    tmp, repo, cfg, before, target = scenario
    rng = random.Random(20)
    plan = [(p, w, -n if n < 0 else rng.randint(1, n)) for p, w, n in INJECTED]
    plan += [("random-delay", "", 0)] * (N_KILLS - len(plan))
    rng.shuffle(plan)
    # How long an unkilled run holds the lock here, so the random kills land inside a run on any machine.
    calibration = tmp / "calibration"
    shutil.copytree(tmp / "v1", calibration)
    proc = _child(calibration, repo, "none", "", 0)
    assert _wait_for_lock(calibration, proc.pid, proc)
    started = time.perf_counter()
    proc.communicate(timeout=600)
    run_s = time.perf_counter() - started
    shutil.rmtree(calibration)
    outcomes = []
    for i, (point, when, nth) in enumerate(plan):
        home = tmp / f"kill{i}"
        shutil.copytree(tmp / "v1", home)
        if point == "random-delay":
            full = ("--full",) if i % 2 else ()  # some of the killed runs are full rebuilds

            proc = _child(home, repo, "none", "", 0, *full)
            assert _wait_for_lock(home, proc.pid, proc)
            time.sleep(rng.uniform(0.0, 0.8 * run_s))
            proc.send_signal(signal.SIGKILL)
        else:
            full = ()
            proc = _child(home, repo, point, when, nth)
        _, stderr = proc.communicate(timeout=600)
        label = f"{point}:{when}:{nth}{' --full' if full else ''}"
        if point != "random-delay":
            assert proc.returncode == -signal.SIGKILL, f"{label} was not reached: {stderr[-500:]}"
        killed = proc.returncode == -signal.SIGKILL

        monkeypatch.setenv("DAYONE_HOME", str(home))
        settings = load_settings()
        published = _state(settings)  # the published index is whole: either the old one or the finished new one
        assert published in (before, target), label
        assert _searchable(home), label
        rerun = Indexer(settings, embedder=embedder).run([cfg])
        assert not rerun.failed, label
        assert _state(settings) == target, f"{label}: the rerun did not converge to a fresh build"
        assert len(IndexDir(settings.index_dir).generations()) <= 2, label
        outcomes.append((label, killed, "old" if published == before else "new"))
        shutil.rmtree(home)
    kills = sum(k for _, k, _ in outcomes)
    assert kills >= N_KILLS - 2, outcomes  # a random delay may rarely outlast the run; injected ones never do
    with capsys.disabled():
        print(f"\nfaults: {kills} kill -9 of {len(outcomes)} runs; published index afterwards: "
              f"{sum(o == 'old' for *_, o in outcomes)} old, {sum(o == 'new' for *_, o in outcomes)} new; "
              f"every rerun equal to a fresh build ({len(target[0])} chunks), 0 lost")


def _limit_file_size(limit: int):
    def pre() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return pre


@pytest.mark.parametrize("how", ["file-size-limit", "full-tmpfs"])
def test_full_disk_keeps_the_previous_index_and_says_so(scenario, embedder, monkeypatch, how):
    tmp, repo, cfg, before, target = scenario
    home = tmp / f"disk-{how}"
    mounted = False
    preexec = None
    if how == "full-tmpfs":
        used = sum(f.lstat().st_blocks * 512 for f in (tmp / "v1").rglob("*"))
        home.mkdir()
        size = used + 100 * 2**20  # the old index fits and opens, a new generation (its copy) does not
        if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(home)],
                                               capture_output=True).returncode != 0:
            pytest.skip("mounting a small tmpfs needs root")
        mounted = True
        # cp keeps the engine's sparse files sparse, so the old index fits in what it really uses
        subprocess.run(["cp", "-a", "--sparse=always", f"{tmp / 'v1'}/.", str(home)], check=True)
    else:
        shutil.copytree(tmp / "v1", home)
        preexec = _limit_file_size(256 * 1024)
    try:
        proc = _child(home, repo, "none", "", 0, preexec=preexec)
        _, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 2, stderr
        lines = [ln for ln in stderr.splitlines() if ln.startswith("error:")]
        assert len(lines) == 1, stderr
        assert "disk is full" in lines[0] or "not enough free disk space" in lines[0], lines[0]
        monkeypatch.setenv("DAYONE_HOME", str(home))
        settings = load_settings()
        assert _state(settings) == before
        assert _searchable(home)
    finally:
        if mounted:
            subprocess.run(["umount", str(home)], check=False)


def test_corrupt_manifest_and_corrupt_current_are_rebuilt(scenario, embedder, monkeypatch):
    tmp, repo, cfg, before, target = scenario
    for damage in ("truncate", "garbage", "current-garbage"):
        home = tmp / f"corrupt-{damage}"
        shutil.copytree(tmp / "v1", home)
        monkeypatch.setenv("DAYONE_HOME", str(home))
        settings = load_settings()
        current = IndexDir(settings.index_dir).current()
        if damage == "truncate":
            data = current.manifest_path.read_bytes()
            current.manifest_path.write_bytes(data[: len(data) // 3])
        elif damage == "garbage":
            with open(current.manifest_path, "r+b") as fh:
                fh.seek(4096)
                fh.write(os.urandom(8192))
        else:
            (settings.index_dir / "CURRENT").write_text("../../etc\n")
        result = runner.invoke(app, ["search", "pay"])
        assert result.exit_code == 2 and result.stderr.startswith("error:"), result.output
        rerun = Indexer(settings, embedder=embedder).run([cfg])
        assert not rerun.failed
        assert _state(settings) == target, damage
