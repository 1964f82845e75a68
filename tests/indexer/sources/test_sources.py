"""Repository snapshots against real git repositories built in tmp_path (no mocks)."""

from __future__ import annotations

import http.server
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from app.settings import load_settings
from indexer.settings import RepoConfig
from indexer.sources import (
    SKIP_REASONS,
    Snapshot,
    SourceError,
    match_glob,
    open_snapshot,
    repo_from_argument,
)

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


@pytest.fixture(autouse=True)
def _isolated_git(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep the developer's git config (signing, hooks, default branch) out of the tests."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    (tmp_path / "gitconfig").write_text("[init]\n\tdefaultBranch = main\n")


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false",
         *args],
        cwd=cwd, check=True, capture_output=True, text=True,
    )
    return proc.stdout.strip()


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def make_repo(path: Path, files: dict[str, str | bytes], message: str = "initial") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    if files:
        write(path, files)
        git(path, "add", "-A")
        git(path, "commit", "-q", "-m", message)
    return path


def commit(repo: Path, files: dict[str, str | bytes], message: str = "change") -> str:
    write(repo, files)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def snap(repo: RepoConfig, tmp_path: Path, max_file_bytes: int = 100_000, **kw: bool) -> Snapshot:
    return open_snapshot(repo, cache_dir=tmp_path / "cache", max_file_bytes=max_file_bytes, **kw)


def local(path: Path, **kw: object) -> RepoConfig:
    return RepoConfig(name="r", path=str(path), **kw)


def paths(s: Snapshot) -> list[str]:
    return [f.path for f in s.files]


def hash_object(data: bytes, tmp_path: Path) -> str:
    blob = tmp_path / "hash-me"
    blob.write_bytes(data)
    return git(tmp_path, "hash-object", str(blob))


# --------------------------------------------------------------------------------------------------
# Local git work trees


def test_git_work_tree_offers_committed_tracked_files_only(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"app.py": "print('committed')\n", "lib/util.py": "X = 1\n"})
    (repo / "app.py").write_text("print('edited, not committed')\n")
    (repo / "untracked.py").write_text("nope\n")
    head = git(repo, "rev-parse", "HEAD")

    with snap(local(repo), tmp_path) as s:
        assert paths(s) == ["app.py", "lib/util.py"]
        assert s.commit == head
        assert s.branch == "main"
        assert s.root == repo.resolve()
        assert s.read("app.py") == b"print('committed')\n"
        app = s.files[0]
        assert app.blob == git(repo, "rev-parse", "HEAD:app.py")
        assert app.size == len(b"print('committed')\n")
        with pytest.raises(KeyError):
            s.read("untracked.py")
        assert not s.skipped


def test_reads_share_one_cat_file_process(tmp_path: Path) -> None:
    files = {f"src/m{i}.py": f"VALUE = {i}\n" for i in range(30)}
    repo = make_repo(tmp_path / "repo", files)
    with snap(local(repo), tmp_path) as s:
        assert s.read("src/m0.py") == b"VALUE = 0\n"
        proc = s._catfile._proc  # type: ignore[union-attr]
        for path, content in files.items():
            assert s.read(path) == content.encode()
        assert s._catfile._proc is proc  # type: ignore[union-attr]
    assert proc.poll() is not None  # close() stopped it
    s.close()  # closing twice is harmless


def test_branch_selection(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"a.py": "main\n"})
    main_sha = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "-b", "feature")
    feature_sha = commit(repo, {"a.py": "feature\n", "b.py": "new\n"})
    git(repo, "checkout", "-q", "main")

    with snap(local(repo), tmp_path) as s:
        assert (paths(s), s.commit, s.branch) == (["a.py"], main_sha, "main")
    with snap(local(repo, branch="feature"), tmp_path) as s:
        assert (paths(s), s.commit, s.branch) == (["a.py", "b.py"], feature_sha, "feature")
        assert s.read("a.py") == b"feature\n"
    with pytest.raises(SourceError, match="unknown branch 'nope'"):
        snap(local(repo, branch="nope"), tmp_path)


def test_detached_head_has_no_branch(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"a.py": "1\n"})
    first = git(repo, "rev-parse", "HEAD")
    commit(repo, {"a.py": "2\n"})
    git(repo, "checkout", "-q", first)
    with snap(local(repo), tmp_path) as s:
        assert (s.commit, s.branch, s.read("a.py")) == (first, None, b"1\n")


def test_bare_repository_path_is_read_from_git(tmp_path: Path) -> None:
    src = make_repo(tmp_path / "src", {"a.py": "x\n"})
    bare = tmp_path / "bare.git"
    git(tmp_path, "clone", "-q", "--bare", str(src), str(bare))
    with snap(local(bare), tmp_path) as s:
        assert paths(s) == ["a.py"]
        assert s.commit == git(src, "rev-parse", "HEAD")
        assert s.read("a.py") == b"x\n"


def test_bare_repository_without_commits_is_empty_not_walked(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "--bare", "empty.git")
    with snap(local(tmp_path / "empty.git"), tmp_path) as s:
        assert s.files == [] and not s.skipped and s.commit is None


def test_repo_without_commits_is_walked(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {})
    write(repo, {"draft.py": "x = 1\n"})
    with snap(local(repo), tmp_path) as s:
        assert paths(s) == ["draft.py"]
        assert s.commit is None and s.branch is None
        assert not s.skipped  # .git is neither walked nor counted


def test_empty_commit_gives_empty_snapshot(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {})
    git(repo, "commit", "-q", "--allow-empty", "-m", "empty")
    with snap(local(repo), tmp_path) as s:
        assert s.files == [] and s.commit == git(repo, "rev-parse", "HEAD")


def test_subdirectory_of_work_tree_is_walked_as_on_disk(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"top.py": "t\n", "pkg/mod.py": "committed\n"})
    write(repo, {"pkg/mod.py": "edited\n", "pkg/new.py": "untracked\n"})
    with snap(local(repo / "pkg"), tmp_path) as s:
        assert paths(s) == ["mod.py", "new.py"]
        assert s.commit is None and s.branch is None
        assert s.read("mod.py") == b"edited\n"


def test_git_dir_of_work_tree_but_not_root_is_an_error(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"a.py": "x\n"})
    with pytest.raises(SourceError, match="inside a git directory"):
        snap(local(repo / ".git" / "refs"), tmp_path)


def test_noop_reindex_of_2800_files_is_fast(tmp_path: Path) -> None:
    files = {f"pkg{i // 100}/mod{i}.py": f"def f{i}():\n    return {i}\n" for i in range(2800)}
    repo = make_repo(tmp_path / "repo", files)
    with snap(local(repo), tmp_path) as s:  # warm the OS caches
        assert len(s.files) == 2800
    started = time.perf_counter()
    with snap(local(repo), tmp_path) as s:
        assert len(s.files) == 2800
    assert time.perf_counter() - started < 1.0


# --------------------------------------------------------------------------------------------------
# URLs


def test_clone_url_then_fetch_picks_up_new_commit(tmp_path: Path) -> None:
    origin = make_repo(tmp_path / "origin", {"a.py": "v1\n"})
    first = git(origin, "rev-parse", "HEAD")
    repo = RepoConfig(name="remote", url=(tmp_path / "origin").as_uri())

    with snap(repo, tmp_path) as s:
        assert (paths(s), s.commit, s.branch) == (["a.py"], first, "main")
        assert s.root == tmp_path / "cache" / "remote"
        assert s.read("a.py") == b"v1\n"
    assert not (tmp_path / "cache" / "remote" / "a.py").exists()  # no checkout, only objects

    second = commit(origin, {"a.py": "v2\n", "b.py": "new\n"})
    with snap(repo, tmp_path, fetch=False) as s:
        assert s.commit == first  # fetch=False uses the clone as it is
    with snap(repo, tmp_path) as s:
        assert (paths(s), s.commit) == (["a.py", "b.py"], second)
        assert s.read("a.py") == b"v2\n"


def test_url_branch_selection(tmp_path: Path) -> None:
    origin = make_repo(tmp_path / "origin", {"a.py": "main\n"})
    git(origin, "checkout", "-q", "-b", "release")
    release = commit(origin, {"r.py": "release\n"})
    git(origin, "checkout", "-q", "main")
    url = origin.as_uri()
    with snap(RepoConfig(name="o", url=url, branch="release"), tmp_path) as s:
        assert (paths(s), s.commit, s.branch) == (["a.py", "r.py"], release, "release")
    with pytest.raises(SourceError, match="unknown branch 'gone'"):
        snap(RepoConfig(name="o", url=url, branch="gone"), tmp_path)


def test_empty_remote_gives_empty_snapshot(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "--bare", "empty.git")
    with snap(RepoConfig(name="empty", url=(tmp_path / "empty.git").as_uri()), tmp_path) as s:
        assert s.files == [] and s.commit is None


def test_remote_that_was_empty_at_clone_time_gets_its_default_branch_later(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "--bare", "-b", "trunk", "origin.git")
    repo = RepoConfig(name="late", url=(tmp_path / "origin.git").as_uri())
    with snap(repo, tmp_path) as s:
        assert s.files == []
    work = make_repo(tmp_path / "work", {"a.py": "x\n"})
    git(work, "push", "-q", str(tmp_path / "origin.git"), "main:trunk")
    with snap(repo, tmp_path) as s:
        assert (paths(s), s.branch) == (["a.py"], "trunk")


def test_fetch_runs_no_hooks(tmp_path: Path) -> None:
    origin = make_repo(tmp_path / "origin", {"a.py": "v1\n"})
    repo = RepoConfig(name="hooked", url=origin.as_uri())
    snap(repo, tmp_path).close()
    marker = tmp_path / "hook-ran"
    hook = tmp_path / "cache" / "hooked" / ".git" / "hooks" / "reference-transaction"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
    hook.chmod(0o755)
    commit(origin, {"a.py": "v2\n"})
    with snap(repo, tmp_path) as s:
        assert s.read("a.py") == b"v2\n"
    assert not marker.exists()


def test_git_never_prompts_for_credentials(tmp_path: Path) -> None:
    class AuthRequired(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), AuthRequired)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        repo = RepoConfig(name="private", url=f"http://127.0.0.1:{server.server_port}/private.git")
        started = time.perf_counter()
        with pytest.raises(SourceError) as info:
            snap(repo, tmp_path)
        assert time.perf_counter() - started < 30
        assert "terminal prompts disabled" in str(info.value)
        assert "\n" not in str(info.value)
    finally:
        server.shutdown()
        server.server_close()


def test_missing_url_is_a_one_line_source_error(tmp_path: Path) -> None:
    repo = RepoConfig(name="ghost", url=(tmp_path / "does-not-exist").as_uri())
    with pytest.raises(SourceError) as info:
        snap(repo, tmp_path)
    message = str(info.value)
    assert message.startswith("repo 'ghost': git clone of file://")
    assert "\n" not in message
    assert "does not appear to be a git repository" in message or "not found" in message
    assert not (tmp_path / "cache" / "ghost").exists()  # no half-made clone left behind


def test_password_in_url_is_not_echoed(tmp_path: Path) -> None:
    repo = RepoConfig(name="secret", url="https://user:hunter2@127.0.0.1:9/repo.git")
    with pytest.raises(SourceError) as info:
        snap(repo, tmp_path)
    assert "hunter2" not in str(info.value)
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------------------------------
# Plain directories


def test_plain_directory(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    write(root, {"main.go": "package main\n", "docs/guide.md": "# Guide\n"})
    with snap(local(root), tmp_path) as s:
        assert paths(s) == ["docs/guide.md", "main.go"]
        assert s.commit is None and s.branch is None
        assert s.files[1].blob == hash_object(b"package main\n", tmp_path)
        assert s.files[1].size == len(b"package main\n")
        assert s.read("docs/guide.md") == b"# Guide\n"


def test_empty_plain_directory(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with snap(local(tmp_path / "empty"), tmp_path) as s:
        assert s.files == [] and not s.skipped


def test_missing_path_and_file_path_are_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"^repo 'r': .*nowhere does not exist$"):
        snap(local(tmp_path / "nowhere"), tmp_path)
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(SourceError, match=r"^repo 'r': .*file.txt is not a directory$"):
        snap(local(tmp_path / "file.txt"), tmp_path)


# --------------------------------------------------------------------------------------------------
# Skips

SKIP_FIXTURE: dict[str, str | bytes] = {
    "src/app.py": "print('hi')\n",
    "src/big.py": "x" * 2000,
    "README.md": "# r\n",
    ".github/workflows/ci.yml": "on: push\n",
    # vendored
    "node_modules/left-pad/index.js": "module.exports = 1\n",
    "web/node_modules/react/index.js": "x\n",
    "vendor/github.com/pkg/errors/errors.go": "package errors\n",
    "build/out.js": "x\n",
    "lib/__pycache__/m.cpython-311.pyc": b"\x00\x01",
    ".venv/lib/site.py": "x\n",
    # generated
    "web/app.min.js": "x\n",
    "web/app.js.map": "{}\n",
    "package-lock.json": "{}\n",
    "poetry.lock": "x\n",
    "go.sum": "x\n",
    "proto/user_pb2.py": "x\n",
    "proto/user.pb.go": "x\n",
    # secret
    ".env": "TOKEN=1\n",
    ".env.production": "TOKEN=2\n",
    "certs/server.pem": "-----BEGIN-----\n",
    "certs/server.key": "k\n",
    "deploy/id_rsa": "k\n",
    "deploy/id_ed25519.pub": "k\n",
    "config/credentials.json": "{}\n",
    ".npmrc": "//registry/:_authToken=x\n",
    "config/secrets.yaml": "x: 1\n",
    # binary by extension
    "assets/logo.PNG": b"\x89PNG",
    "assets/font.woff2": b"\x00",
    "dist.tar.gz": b"\x1f\x8b",
    "docs/manual.pdf": b"%PDF",
    "data/app.sqlite": b"SQLite",
    "lib/native.so": b"\x7fELF",
    # translation catalogs
    "locale/fr/LC_MESSAGES/django.po": 'msgid "Order"\nmsgstr "Commande"\n',
    "locale/django.pot": 'msgid "Order"\n',
}
EXPECTED_FILES = [".github/workflows/ci.yml", "README.md", "src/app.py"]
EXPECTED_COUNTS = {
    "vendored": 6, "generated": 7, "secret": 9, "binary-ext": 6, "too-large": 1, "translation": 2,
    "symlink": 1, "symlink-outside": 2,
}


def _add_links(root: Path) -> None:
    os.symlink("src/app.py", root / "link-inside.py")
    os.symlink("../../etc/passwd", root / "src" / "link-outside")
    os.symlink("/etc/hostname", root / "abs-link")


def test_skip_reasons_in_git_repo(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {})
    write(repo, SKIP_FIXTURE)
    _add_links(repo)
    git(repo, "add", "-A", "-f")
    # A submodule entry (gitlink), recorded directly in the index.
    git(repo, "update-index", "--add", "--cacheinfo", f"160000,{'a' * 40},third/sub")
    git(repo, "commit", "-q", "-m", "everything")

    with snap(local(repo), tmp_path, max_file_bytes=1000) as s:
        assert paths(s) == EXPECTED_FILES
        assert dict(s.skipped) == {**EXPECTED_COUNTS, "submodule": 1}
        reasons = dict(s.skipped_paths)
        assert reasons["src/link-outside"] == "symlink-outside"
        assert reasons["link-inside.py"] == "symlink"
        assert reasons["third/sub"] == "submodule"
        assert reasons["web/node_modules/react/index.js"] == "vendored"
        assert reasons["src/big.py"] == "too-large"
        assert set(s.skipped) <= set(SKIP_REASONS)
        with pytest.raises(KeyError):
            s.read(".env")


def test_skip_reasons_in_plain_directory(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    write(root, SKIP_FIXTURE)
    _add_links(root)
    os.symlink("../..", root / "src" / "up-two")  # a directory link outside: never entered
    os.symlink("..", root / "src" / "up-one")  # the root itself: inside, still never entered
    with snap(local(root), tmp_path, max_file_bytes=1000) as s:
        assert paths(s) == EXPECTED_FILES
        # Walks count a vendored directory once instead of entering it.
        assert dict(s.skipped) == {**EXPECTED_COUNTS, "symlink": 2, "symlink-outside": 3}
        reasons = dict(s.skipped_paths)
        assert reasons["node_modules/"] == "vendored"
        assert reasons["web/node_modules/"] == "vendored"
        assert reasons["src/up-two"] == "symlink-outside"
        assert reasons["src/up-one"] == "symlink"
        assert reasons["link-inside.py"] == "symlink"


def test_include_and_exclude_globs(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {
        "README.md": "r\n", "docs/a.md": "a\n", "docs/deep/b.md": "b\n", "src/x.py": "x\n",
        "src/legacy/old.py": "o\n", "src/pkg/test_x.py": "t\n", "tools/run.sh": "s\n",
    }
    repo = make_repo(tmp_path / "repo", files)
    cfg = local(repo, include=["src/**", "*.md"], exclude=["src/legacy", "**/test_*.py", "docs/deep/"])
    with snap(cfg, tmp_path) as s:
        assert paths(s) == ["README.md", "docs/a.md", "src/x.py"]
        assert s.skipped == {"excluded": 4}
    # The same rules on a directory walk; an excluded directory is not entered.
    plain = tmp_path / "plain"
    write(plain, files)
    with snap(local(plain, include=["src/**", "*.md"], exclude=["src/legacy", "**/test_*.py"]),
              tmp_path) as s:
        assert paths(s) == ["README.md", "docs/a.md", "docs/deep/b.md", "src/x.py"]
        assert ("src/legacy/", "excluded") in s.skipped_paths
        assert s.skipped == {"excluded": 3}


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("*.py", "a.py", True),
        ("*.py", "deep/er/a.py", True),
        ("*.py", "a.pyc", False),
        ("docs/**", "docs/a/b.md", True),
        ("docs/**", "src/docs/a.md", False),
        ("docs/*.md", "docs/a.md", True),
        ("docs/*.md", "docs/x/a.md", False),
        ("/docs/*.md", "docs/a.md", True),
        ("**/test_*.py", "test_a.py", True),
        ("**/test_*.py", "pkg/sub/test_a.py", True),
        ("src/**/*.ts", "src/a.ts", True),
        ("src/**/*.ts", "src/x/y/a.ts", True),
        ("src/**/*.ts", "lib/src/a.ts", False),
        ("tests", "tests/unit/a.py", True),
        ("tests", "pkg/tests/a.py", True),
        ("tests/", "tests", False),
        ("tests/", "tests/a.py", True),
        ("src/legacy", "src/legacy/x/y.py", True),
        ("a?c.txt", "abc.txt", True),
        ("a?c.txt", "a/c.txt", False),
        ("[!t]*.py", "main.py", True),
        ("[!t]*.py", "test.py", False),
        ("", "a.py", False),
    ],
)
def test_match_glob(pattern: str, path: str, expected: bool) -> None:
    assert match_glob(pattern, path) is expected


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads chmod 000 files; see the FIFO test instead")
def test_unreadable_file_is_counted_not_fatal(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    write(root, {"ok.py": "x\n", "locked.py": "y\n", "closed/inner.py": "z\n"})
    (root / "locked.py").chmod(0)
    (root / "closed").chmod(0)
    try:
        with snap(local(root), tmp_path) as s:
            assert paths(s) == ["ok.py"]
            assert s.skipped == {"unreadable": 2}
    finally:
        (root / "locked.py").chmod(0o644)
        (root / "closed").chmod(0o755)


def test_special_files_are_unreadable_and_never_opened(tmp_path: Path) -> None:
    # Opening a FIFO would block forever; it must be skipped from its stat alone (this also covers
    # the "unreadable" reason when tests run as root, where chmod 000 does not stop reads).
    root = tmp_path / "plain"
    write(root, {"ok.py": "x\n"})
    os.mkfifo(root / "pipe")
    with snap(local(root), tmp_path) as s:
        assert paths(s) == ["ok.py"]
        assert s.skipped_paths == [("pipe", "unreadable")]


def test_undecodable_file_name_is_unreadable(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    write(root, {"ok.py": "x\n"})
    with open(os.path.join(os.fsencode(root), b"bad\xff.py"), "wb") as fh:
        fh.write(b"y\n")
    with snap(local(root), tmp_path) as s:
        assert paths(s) == ["ok.py"]
        assert s.skipped == {"unreadable": 1}


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to hand the repository to another user")
def test_repository_owned_by_someone_else_is_refused_not_walked(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"a.py": "x\n"})
    for dirpath, dirnames, filenames in os.walk(repo):
        for name in [*dirnames, *filenames]:
            os.lchown(os.path.join(dirpath, name), 12345, 12345)
    os.lchown(repo, 12345, 12345)
    with pytest.raises(SourceError, match="dubious ownership"):
        snap(local(repo), tmp_path)


def test_file_deleted_after_listing_raises_source_error_on_read(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    write(root, {"gone.py": "x\n"})
    with snap(local(root), tmp_path) as s:
        (root / "gone.py").unlink()
        with pytest.raises(SourceError, match="cannot read gone.py"):
            s.read("gone.py")


# --------------------------------------------------------------------------------------------------
# Command-line arguments


@pytest.mark.parametrize(
    ("arg", "name"),
    [
        ("https://github.com/acme/shop.git", "shop"),
        ("https://github.com/acme/shop/", "shop"),
        ("ssh://git@example.com:2222/team/billing-api.git", "billing-api"),
        ("git@github.com:acme/web_app.git", "web_app"),
        ("file:///srv/git/My%20Repo.git", "My-20Repo"),
        ("https://example.com/.hidden.git", "hidden"),
    ],
)
def test_repo_from_url_argument(arg: str, name: str) -> None:
    repo = repo_from_argument(arg)
    assert (repo.url, repo.path, repo.name) == (arg, None, name)


def test_repo_from_path_argument(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "my project"
    project.mkdir()
    monkeypatch.chdir(tmp_path)
    repo = repo_from_argument("my project")
    assert (repo.path, repo.url, repo.name) == (str(project), None, "my-project")
    monkeypatch.chdir(project)
    assert repo_from_argument(".").name == "my-project"
    assert repo_from_argument(".", name="custom").name == "custom"


def test_repo_from_bare_repo_path_is_a_url(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "--bare", "tools.git")
    repo = repo_from_argument(str(tmp_path / "tools.git"))
    assert (repo.url, repo.path, repo.name) == (str(tmp_path / "tools.git"), None, "tools")
    # ...and it can be indexed: cloned into the cache like any URL (it is empty).
    with snap(repo, tmp_path) as s:
        assert s.files == []


def test_repo_from_argument_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file or directory"):
        repo_from_argument(str(tmp_path / "missing"))
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(SourceError, match="is not a directory"):
        repo_from_argument(str(tmp_path / "f.txt"))
    with pytest.raises(SourceError, match="invalid repository name"):
        repo_from_argument(str(tmp_path), name="../evil")


# --------------------------------------------------------------------------------------------------
# The shipped example


def test_example_config_names_the_shop_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in [v for v in os.environ if v.startswith("DAYONE_")]:
        monkeypatch.delenv(var)
    settings = load_settings(EXAMPLES / "dayone.toml")
    [repo] = settings.repos
    assert repo.name == "shop"
    assert Path(repo.path or "") == (EXAMPLES / "shop").resolve()
    assert (Path(repo.path or "") / "api" / "orders.py").is_file()


def test_example_shop_snapshot(tmp_path: Path) -> None:
    settings_repo = RepoConfig(name="shop", path=str(EXAMPLES / "shop"))
    with snap(settings_repo, tmp_path) as s:
        found = set(paths(s))
        for expected in ("api/orders.py", "api/payments.py", "api/inventory.py", "api/app.py",
                         "web/src/cart.ts", "web/src/checkout.tsx", "web/src/api.ts", "worker/main.go",
                         "worker/email.go", "worker/queue.go", "db/schema.sql", "README.md",
                         "docs/architecture.md", "pyproject.toml", "web/package.json", "worker/go.mod"):
            assert expected in found
        assert 15 <= len(found) <= 30
        assert b"def pay(self" in s.read("api/orders.py")
