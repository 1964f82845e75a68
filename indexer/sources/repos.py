"""From what a user names (a path, a URL, a config entry) to an open Snapshot of the right kind."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import ValidationError

from indexer.settings import RepoConfig
from indexer.sources.directory import open_dir
from indexer.sources.filters import PathFilter
from indexer.sources.git import (
    SCP_LIKE,
    URL_SCHEMES,
    _git_ok,
    _git_reason,
    _resolve_branch,
    _run_git,
    git_env,
    is_url,
    open_commit,
    open_url,
)
from indexer.sources.snapshot import Collector, Snapshot, SourceError

# --------------------------------------------------------------------------------------------------
# Arguments


_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")




def is_git_dir(path: Path) -> bool:
    """A bare repository or a `.git` directory: something to clone from, not to walk."""
    return (path / "HEAD").is_file() and (path / "objects").is_dir() and (path / "refs").is_dir()


def _default_name(location: str) -> str:
    """A repository name from the last component of a URL or path, fitted to RepoConfig's pattern."""
    if location.lower().startswith(URL_SCHEMES):
        tail = urlsplit(location).path
    elif SCP_LIKE.match(location):
        tail = location.split(":", 1)[1]
    else:
        tail = location
    last = tail.replace("\\", "/").rstrip("/").rpartition("/")[2]
    if last.lower().endswith(".git"):
        last = last[:-4]
    if last == "" and tail.rstrip("/").endswith("/.git"):  # ".../project/.git"
        last = tail.rstrip("/")[:-5].rpartition("/")[2]
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", last)
    name = re.sub(r"^[^A-Za-z0-9]+", "", name)
    return name or "repo"


def repo_from_argument(arg: str, name: str | None = None) -> RepoConfig:
    """The RepoConfig for `dayone index PATH_OR_URL [--name N]`.

    URLs (https://, ssh://, git://, file://, user@host:path) and paths to a bare repository or a
    `.git` directory become `url=` (cloned into the cache); anything else must be an existing
    directory and becomes an absolute `path=`.
    """
    arg = arg.strip()
    if not arg:
        raise SourceError("no repository path or URL given")
    if is_url(arg):
        location, kwargs = arg, {"url": arg}
    else:
        path = Path(arg).expanduser()
        if not path.exists():
            raise SourceError(f"{arg}: no such file or directory")
        path = path.resolve()
        if not path.is_dir():
            raise SourceError(f"{arg}: is not a directory")
        if is_git_dir(path):
            location, kwargs = str(path), {"url": str(path)}
        else:
            location, kwargs = str(path), {"path": str(path)}
    if name is None:
        name = _default_name(location)
    elif not _NAME_RE.match(name):
        raise SourceError(f"invalid repository name {name!r}: use letters, digits, '.', '_' and '-', "
                          "starting with a letter or digit")
    try:
        return RepoConfig(name=name, **kwargs)
    except ValidationError as exc:
        raise SourceError(f"invalid repository {name!r}: {exc.errors()[0]['msg']}") from None


# --------------------------------------------------------------------------------------------------
# Opening


def open_snapshot(repo: RepoConfig, *, cache_dir: Path, max_file_bytes: int, fetch: bool = True) -> Snapshot:
    """List the repository's indexable files (see the module docs for which and from where).

    `fetch=False` reuses an existing clone of a URL repository without contacting the remote (a
    first run still has to clone). Raises SourceError with a one-line reason.
    """
    flt = PathFilter(repo.include, repo.exclude)
    if repo.branch is not None and repo.branch.startswith("-"):
        raise SourceError(f"repo '{repo.name}': invalid branch name {repo.branch!r}")
    if repo.url:
        return open_url(repo, Path(cache_dir), max_file_bytes, flt, fetch)
    assert repo.path is not None
    root = Path(repo.path).expanduser()
    if not root.exists():
        raise SourceError(f"repo '{repo.name}': {root} does not exist")
    if not root.is_dir():
        raise SourceError(f"repo '{repo.name}': {root} is not a directory")
    root = root.resolve()
    env = git_env()
    proc = _run_git(["rev-parse", "--is-bare-repository", "--is-inside-work-tree", "--absolute-git-dir",
                     "--show-prefix"], cwd=root, env=env)
    if proc.returncode != 0:
        if b"dubious ownership" in proc.stderr:  # walking it would silently index uncommitted files
            raise SourceError(f"repo '{repo.name}': {_git_reason(proc.stderr)}")
        return open_dir(repo, root, max_file_bytes, flt)  # not in a git repository at all
    lines = proc.stdout.decode("utf-8", "surrogateescape").split("\n")
    bare, in_work_tree, git_dir = lines[0] == "true", lines[1] == "true", Path(lines[2])
    prefix = lines[3] if len(lines) > 3 else ""
    if bare or not in_work_tree:
        if git_dir.resolve() != root:
            raise SourceError(f"repo '{repo.name}': {root} is inside a git directory, not a work tree")
        # A bare repository (or a .git directory) has no files of its own to fall back to.
        walk_if_empty = False
    elif prefix:
        return open_dir(repo, root, max_file_bytes, flt)  # a subdirectory of a work tree: what's on disk
    else:
        walk_if_empty = True

    def no_commits() -> Snapshot:
        if walk_if_empty:
            return open_dir(repo, root, max_file_bytes, flt)
        return Collector().snapshot(name=repo.name, root=root, commit=None, branch=repo.branch, catfile=None)

    if repo.branch:
        commit = _resolve_branch(root, env, repo.branch, (f"refs/heads/{repo.branch}",
                                 f"refs/remotes/origin/{repo.branch}", f"refs/tags/{repo.branch}"))
        if commit is None:
            if _git_ok(["rev-parse", "-q", "--verify", "HEAD^{commit}"], cwd=root, env=env) is None \
                    and not _git_ok(["for-each-ref", "--count=1"], cwd=root, env=env):
                return no_commits()
            raise SourceError(f"repo '{repo.name}': unknown branch '{repo.branch}' in {root}")
        branch: str | None = repo.branch
    else:
        commit = _git_ok(["rev-parse", "-q", "--verify", "HEAD^{commit}"], cwd=root, env=env)
        if commit is None:
            return no_commits()
        branch = _git_ok(["symbolic-ref", "-q", "--short", "HEAD"], cwd=root, env=env) or None
    return open_commit(repo, root, env, commit, branch, max_file_bytes, flt)
