"""Reading git repositories without a checkout: ls-tree for the listing, one cat-file --batch for content,
clone and fetch for URLs. Git never prompts and never runs hooks."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import threading
import weakref
from pathlib import Path

from indexer.chunking.models import SourceFile
from indexer.settings import RepoConfig
from indexer.sources.directory import link_leaves
from indexer.sources.filters import (
    SKIP_SUBMODULE,
    SKIP_SYMLINK,
    SKIP_SYMLINK_OUTSIDE,
    SKIP_TOO_LARGE,
    SKIP_UNREADABLE,
    PathFilter,
    name_reason,
    path_reason,
)
from indexer.sources.snapshot import Collector, Snapshot, SourceError

# --------------------------------------------------------------------------------------------------
# Running git

# Variables that would point git at some other repository than the one we name.
_GIT_ENV_DROP = (
    "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR", "GIT_NAMESPACE", "GIT_PREFIX",
)
_GIT_CONFIG = (
    "-c", "core.hooksPath=/dev/null",  # hooks never run (reference-transaction fires on fetch)
    "-c", "core.fsmonitor=false",
    "-c", "protocol.ext.allow=never",
    "-c", "credential.interactive=never",  # Git Credential Manager: fail instead of opening a window
    "-c", "http.lowSpeedLimit=1000", "-c", "http.lowSpeedTime=60",  # a stalled remote fails, not hangs
)
_CREDENTIALS_RE = re.compile(r"(://[^/@\s:]*):[^/@\s]*@")


def _redact(text: str) -> str:
    """Hide a password/token embedded in a URL before it reaches a message."""
    return _CREDENTIALS_RE.sub(r"\1:***@", text)


def git_env(network: bool = False, cwd: Path | None = None) -> dict[str, str]:
    """Environment for git: no prompts, English messages, and no inherited repository redirection.

    `cwd` is the clone whose core.sshCommand may apply; without one only the user's and the system's
    git config are consulted (never the config of whatever repository we happen to run in).
    """
    env = {k: v for k, v in os.environ.items() if k not in _GIT_ENV_DROP}
    env.update(LC_ALL="C", LANGUAGE="C", GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="", SSH_ASKPASS="",
               GCM_INTERACTIVE="never", GIT_OPTIONAL_LOCKS="0")
    # Keep the user's ssh command (it may name a key) but forbid password/passphrase/host prompts.
    # A GIT_SSH program cannot take extra options, so it is left as it is.
    uses_ssh_program = bool(os.environ.get("GIT_SSH")) and not os.environ.get("GIT_SSH_COMMAND")
    if network and not uses_ssh_program:
        base = os.environ.get("GIT_SSH_COMMAND") or _git_config_value("core.sshCommand", cwd) or "ssh"
        env["GIT_SSH_COMMAND"] = f"{base} -o BatchMode=yes"
    return env


def _git_config_value(key: str, cwd: Path | None) -> str | None:
    try:
        proc = subprocess.run(["git", "config", "--get", key], cwd=cwd or os.path.abspath(os.sep),
                              capture_output=True, stdin=subprocess.DEVNULL, env=git_env(), check=False)
    except OSError:
        return None
    value = proc.stdout.decode("utf-8", "replace").strip()
    return value or None


_GENERIC_GIT_TAILS = (
    "could not read from remote repository.", "please make sure you have the correct access rights",
    "and the repository exists.",
)


def _git_reason(stderr: bytes) -> str:
    """The one line of git's stderr that says what went wrong."""
    lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    if not lines:
        return "git failed without a message"
    # After a transport failure git adds a generic "Could not read from remote repository" and a
    # hint; the cause (a missing path, ssh's "Could not resolve hostname", ...) comes before them.
    specific = [ln for ln in lines if not ln.lower().endswith(_GENERIC_GIT_TAILS)]
    errors = [ln for ln in specific if ln.startswith(("fatal:", "error:"))]
    line = errors[-1] if errors else (specific or lines)[-1]
    for prefix in ("fatal: ", "error: "):
        if line.startswith(prefix):
            line = line[len(prefix):]
    if "dubious ownership" in line:
        line += " (see `git config --global --add safe.directory`)"
    return _redact(line)


def _run_git(args: list[str], *, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", *_GIT_CONFIG, *args], cwd=cwd, env=env, capture_output=True,
                              stdin=subprocess.DEVNULL, check=False)
    except FileNotFoundError:
        raise SourceError("git is not installed (needed to index git repositories)") from None


def _git(args: list[str], *, cwd: Path, env: dict[str, str], repo: str, what: str) -> str:
    """Run git, return stdout; failures become a SourceError naming the repo and git's reason."""
    proc = _run_git(args, cwd=cwd, env=env)
    if proc.returncode != 0:
        raise SourceError(f"repo '{repo}': {what} failed: {_git_reason(proc.stderr)}")
    return proc.stdout.decode("utf-8", "surrogateescape")


def _git_ok(args: list[str], *, cwd: Path, env: dict[str, str]) -> str | None:
    """Run git where failure is an answer ("no such ref"), not an error."""
    proc = _run_git(args, cwd=cwd, env=env)
    return proc.stdout.decode("utf-8", "surrogateescape").strip() if proc.returncode == 0 else None


class CatFile:
    """One `git cat-file --batch` process serving every blob read of a snapshot."""

    def __init__(self, cwd: Path, env: dict[str, str], repo: str) -> None:
        self._cwd, self._env, self._repo = cwd, env, repo
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._finalizer: weakref.finalize | None = None

    def _start(self) -> subprocess.Popen[bytes]:
        try:
            proc = subprocess.Popen(["git", *_GIT_CONFIG, "cat-file", "--batch"], cwd=self._cwd,
                                    env=self._env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL)
        except FileNotFoundError:
            raise SourceError("git is not installed (needed to index git repositories)") from None
        self._finalizer = weakref.finalize(self, _stop_process, proc)
        return proc

    def read(self, sha: str) -> bytes:
        with self._lock:
            if self._proc is None:
                self._proc = self._start()
            stdin, stdout = self._proc.stdin, self._proc.stdout
            assert stdin is not None and stdout is not None
            try:
                stdin.write(sha.encode("ascii") + b"\n")
                stdin.flush()
                header = stdout.readline().split()
                if len(header) != 3:
                    what = b" ".join(header[1:]).decode("ascii", "replace") or "no answer"
                    raise SourceError(f"repo '{self._repo}': git cannot read blob {sha}: {what}")
                size = int(header[2])
                data = stdout.read(size)
                stdout.read(1)  # the newline after each object
            except (OSError, ValueError) as exc:
                self._close_locked()
                raise SourceError(f"repo '{self._repo}': git cat-file stopped: {exc}") from None
            if len(data) != size:
                self._close_locked()
                raise SourceError(f"repo '{self._repo}': git cat-file stopped while reading {sha}")
            return data

    def _close_locked(self) -> None:
        if self._finalizer is not None:
            self._finalizer()
        self._proc = None
        self._finalizer = None

    def close(self) -> None:
        with self._lock:
            self._close_locked()


def _stop_process(proc: subprocess.Popen[bytes]) -> None:
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()




def _resolve_branch(cwd: Path, env: dict[str, str], branch: str, refs: tuple[str, ...]) -> str | None:
    for ref in (*refs, branch):
        sha = _git_ok(["rev-parse", "-q", "--verify", f"{ref}^{{commit}}"], cwd=cwd, env=env)
        if sha:
            return sha
    return None


def open_url(repo: RepoConfig, cache_dir: Path, max_file_bytes: int, flt: PathFilter, fetch: bool) -> Snapshot:
    assert repo.url is not None
    url = repo.url
    if not is_url(url):  # a local repository path: relative to where dayone runs, not to the cache
        url = str(Path(url).expanduser().resolve())
    shown = _redact(url)
    dest = cache_dir / repo.name
    cloned = False
    if not (dest / ".git").is_dir():
        if dest.exists() and any(dest.iterdir()):
            raise SourceError(f"repo '{repo.name}': {dest} exists but is not a clone; remove it to re-clone")
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cache_dir / f".{repo.name}.clone-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            _git(["clone", "--no-checkout", "--quiet", "--", url, str(tmp)], cwd=cache_dir,
                 env=git_env(network=True), repo=repo.name, what=f"git clone of {shown}")
            if dest.exists():
                dest.rmdir()
            tmp.rename(dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        cloned = True
    env = git_env(network=True, cwd=dest)
    if not cloned:
        current = _git_ok(["config", "--get", "remote.origin.url"], cwd=dest, env=env)
        if current != url:
            _git(["remote", "set-url", "origin", url], cwd=dest, env=env, repo=repo.name,
                 what="git remote set-url")
        if fetch:
            # --force: a tag moved upstream must not make every later fetch fail ("would clobber").
            _git(["fetch", "--prune", "--force", "--quiet", "origin"], cwd=dest, env=env, repo=repo.name,
                 what=f"git fetch from {shown}")
    if repo.branch:
        commit = _resolve_branch(dest, env, repo.branch,
                                 (f"refs/remotes/origin/{repo.branch}", f"refs/tags/{repo.branch}"))
        if commit is None:
            if not _git_ok(["for-each-ref", "--count=1", "refs/remotes/origin/"], cwd=dest, env=env):
                return Collector().snapshot(name=repo.name, root=dest, commit=None, branch=repo.branch,
                                             catfile=None)  # an empty remote
            raise SourceError(f"repo '{repo.name}': unknown branch '{repo.branch}' at {shown}")
        return open_commit(repo, dest, env, commit, repo.branch, max_file_bytes, flt)

    def default_branch() -> tuple[str, str] | None:
        ref = _git_ok(["symbolic-ref", "-q", "refs/remotes/origin/HEAD"], cwd=dest, env=env)
        if not ref:
            return None
        sha = _git_ok(["rev-parse", "-q", "--verify", f"{ref}^{{commit}}"], cwd=dest, env=env)
        return (ref.removeprefix("refs/remotes/origin/"), sha) if sha else None

    found = default_branch()
    if found is None and (fetch or cloned):
        # origin/HEAD is missing when the remote was empty at clone time, or stale after a rename.
        _run_git(["remote", "set-head", "origin", "--auto"], cwd=dest, env=env)
        found = default_branch()
    if found is None:
        if not _git_ok(["for-each-ref", "--count=1", "refs/remotes/origin/"], cwd=dest, env=env):
            return Collector().snapshot(name=repo.name, root=dest, commit=None, branch=None, catfile=None)
        raise SourceError(f"repo '{repo.name}': cannot tell the default branch of {shown}; set 'branch'")
    branch, commit = found
    return open_commit(repo, dest, env, commit, branch, max_file_bytes, flt)


def open_commit(repo: RepoConfig, root: Path, env: dict[str, str], commit: str, branch: str | None,
                 max_file_bytes: int, flt: PathFilter) -> Snapshot:
    listing = _run_git(["ls-tree", "-r", "-l", "-z", "--full-tree", commit], cwd=root, env=env)
    if listing.returncode != 0:
        raise SourceError(f"repo '{repo.name}': git ls-tree failed: {_git_reason(listing.stderr)}")
    out = Collector()
    catfile = CatFile(root, env, repo.name)
    links: list[tuple[str, str]] = []
    for record in listing.stdout.split(b"\0"):
        if not record:
            continue
        meta, _, raw_path = record.partition(b"\t")
        mode, _kind, sha, size_text = meta.split()
        try:
            path = raw_path.decode("utf-8")
        except UnicodeDecodeError:
            out.skip(raw_path.decode("utf-8", "replace"), SKIP_UNREADABLE)
            continue
        reason = path_reason(path, flt)
        if reason is None:
            if mode == b"160000":
                reason = SKIP_SUBMODULE
            elif mode == b"120000":
                links.append((path, sha.decode("ascii")))
                continue
            else:
                reason = name_reason(path.rpartition("/")[2])
        size = int(size_text) if size_text.isdigit() else 0
        if reason is None and size > max_file_bytes:
            reason = SKIP_TOO_LARGE
        if reason is None:
            out.files.append(SourceFile(path=path, blob=sha.decode("ascii"), size=size))
        else:
            out.skip(path, reason)
    for path, sha in links:
        target = catfile.read(sha).decode("utf-8", "surrogateescape")
        out.skip(path, SKIP_SYMLINK_OUTSIDE if link_leaves(path, target) else SKIP_SYMLINK)
    return out.snapshot(name=repo.name, root=root, commit=commit, branch=branch, catfile=catfile)


URL_SCHEMES = ("http://", "https://", "ssh://", "git://", "file://", "git+ssh://", "ssh+git://")
SCP_LIKE = re.compile(r"^[A-Za-z0-9._~-]+@[A-Za-z0-9._-]+:(?!//)")


def is_url(arg: str) -> bool:
    return arg.lower().startswith(URL_SCHEMES) or bool(SCP_LIKE.match(arg))
