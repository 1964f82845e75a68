"""Shared fixtures: real git repositories, a private DAYONE_HOME per test, one loaded MiniLM per session."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from indexer.offline import enforce_offline

enforce_offline()

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_SHOP = ROOT / "examples" / "shop"

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def make_repo(path: Path, files: dict[str, str | bytes]) -> Path:
    """A git repository with `files` committed on branch main."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    write_files(path, files)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial", "--allow-empty")
    return path


def write_files(root: Path, files: dict[str, str | bytes]) -> None:
    for rel, content in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)


def commit_all(path: Path, message: str = "change") -> str:
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", message)
    return git(path, "rev-parse", "HEAD")


@pytest.fixture(scope="session")
def embedder():
    from indexer.embedding import load_embedder

    return load_embedder(None, device="cpu")


@pytest.fixture
def home(tmp_path, tmp_path_factory, monkeypatch) -> Path:
    h = tmp_path / "home"
    monkeypatch.setenv("DAYONE_HOME", str(h))
    monkeypatch.delenv("DAYONE_CONFIG", raising=False)
    monkeypatch.delenv("DAYONE_QDRANT_URL", raising=False)
    # The ONNX export of the model is made once per session, not once per private home.
    monkeypatch.setenv("DAYONE_EMBEDDING__CACHE_DIR", str(tmp_path_factory.getbasetemp() / "onnx-models"))
    monkeypatch.chdir(tmp_path)
    return h
