"""Where the indexer gets files from: a git work tree, a plain directory, or a git URL.

Three kinds of repository, one `Snapshot` shape:

* **Local git work tree** (the directory given is the root of a work tree, or a bare repository):
  the files git *tracks* at the branch head (the configured branch, else HEAD), with their
  *committed* content. Uncommitted edits and untracked files are not indexed, so an index always
  corresponds to one commit, which is recorded. Listing uses `git ls-tree -r -l` (blob ids and sizes
  without reading anything) and content comes from one long-lived `git cat-file --batch`, which
  keeps a no-op reindex of thousands of files far below a second.
* **Git URL**: cloned once into `cache_dir/<name>` without a checkout (only git objects are read),
  fetched on later runs; the configured branch (else the remote's default branch) of `origin` is
  indexed like a local work tree.
* **Plain directory** (not a work tree root: an ordinary directory, a *subdirectory* of a work
  tree, or a git repository with no commits yet): the files on disk, walked without following
  symlinks or descending into `.git`; blob ids are git-style sha1s of the content so they compare
  equal to git's for identical content.

Git never prompts (GIT_TERMINAL_PROMPT=0, no askpass, ssh BatchMode) and never runs hooks.

Skip reasons (keys of `Snapshot.skipped`; stable, shown to users):

* ``too-large``       size above ``max_file_bytes`` (from ls-tree -l / stat, nothing read)
* ``vendored``        a directory component is a dependency, cache or build-output directory
                      (node_modules, vendor, third_party, dist, build, target, .venv, __pycache__, ...;
                      see `VENDORED_DIRS`). Directory walks do not enter such a directory and count it
                      once as ``"dir/"``; git listings count each file.
* ``generated``       minified bundles, source maps, lock files, protobuf/gRPC output (by name only;
                      content markers such as "DO NOT EDIT" are checked later by the pipeline)
* ``translation``     translation catalogs (.po, .pot, .mo, .xlf): thousands of strings per locale that
                      would drown code in search and teach a new hire nothing about the code
* ``secret``          files that typically hold credentials (.env, .env.*, *.pem, *.key, id_rsa,
                      .netrc, .npmrc, credentials.json, secrets.*, *.tfstate, ...). Never read.
* ``binary-ext``      an extension that is always binary (images, archives, fonts, object code,
                      .pyc, .jar, .pdf, .sqlite, ...). NUL-byte sniffing of other files happens later.
* ``symlink``         a symlink (git mode 120000 or on disk); never followed
* ``symlink-outside`` a symlink whose target leaves the indexed root (counted instead of ``symlink``)
* ``submodule``       a git submodule (mode 160000)
* ``excluded``        matched a repo ``exclude`` glob, or no glob of a non-empty ``include`` list
* ``unreadable``      a plain-directory entry that cannot be stat'ed, listed or read, a special file
                      (FIFO, socket, device), or a file name that is not valid UTF-8

Checks run in that priority: vendored, excluded, symlink/submodule/special, secret, binary-ext,
generated, translation, too-large; each skipped file is counted once, under the first reason that applies.

Include/exclude globs (`match_glob`) follow .gitignore conventions, on the repository-relative
POSIX path, case-sensitively:

* a pattern without a ``/`` matches a name at any depth: ``*.py``, ``README.md``, ``tests``;
* a pattern containing a ``/`` is anchored at the root (a leading ``/`` or ``./`` is optional):
  ``docs/*.md`` matches ``docs/a.md`` but not ``docs/x/a.md`` or ``src/docs/a.md``;
* ``*`` and ``?`` never cross ``/``; ``[abc]`` / ``[!abc]`` are character classes;
* ``**`` is any number of directories: ``docs/**``, ``**/test_*.py``, ``src/**/*.ts``;
* a pattern that matches a directory matches everything below it (``vendor``, ``src/legacy``);
  a trailing ``/`` makes a pattern match directories only.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import os
import posixpath
import re
import shutil
import stat
import subprocess
import threading
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

from pydantic import ValidationError

from indexer.models import SourceFile
from indexer.settings import RepoConfig

__all__ = [
    "SKIP_REASONS",
    "Snapshot",
    "SourceError",
    "match_glob",
    "open_snapshot",
    "repo_from_argument",
]

SKIP_TOO_LARGE = "too-large"
SKIP_VENDORED = "vendored"
SKIP_GENERATED = "generated"
SKIP_TRANSLATION = "translation"
SKIP_SECRET = "secret"
SKIP_BINARY = "binary-ext"
SKIP_SYMLINK = "symlink"
SKIP_SYMLINK_OUTSIDE = "symlink-outside"
SKIP_SUBMODULE = "submodule"
SKIP_EXCLUDED = "excluded"
SKIP_UNREADABLE = "unreadable"
SKIP_REASONS = (
    SKIP_TOO_LARGE, SKIP_VENDORED, SKIP_GENERATED, SKIP_TRANSLATION, SKIP_SECRET, SKIP_BINARY, SKIP_SYMLINK,
    SKIP_SYMLINK_OUTSIDE, SKIP_SUBMODULE, SKIP_EXCLUDED, SKIP_UNREADABLE,
)


class SourceError(Exception):
    """A repository that cannot be read; the message is one line meant for the user."""


# --------------------------------------------------------------------------------------------------
# What to skip. Matching is on lower-cased names so "LOGO.PNG" and "ID_RSA" are caught too.

VENDORED_DIRS = frozenset({
    # dependencies
    "node_modules", "bower_components", "jspm_packages", "vendor", "third_party", "third-party",
    "thirdparty", "site-packages", "pods", "carthage", ".yarn", ".pnpm-store",
    # virtual environments and tool caches
    ".venv", "venv", ".tox", ".nox", ".eggs", "__pycache__", ".mypy_cache", ".pytest_cache",
    ".ruff_cache", ".cache", ".gradle", ".terraform", ".serverless", ".parcel-cache", ".dayone",
    # build output
    "dist", "build", "target", "_build", ".next", ".nuxt", ".svelte-kit", "deriveddata", "htmlcov",
    # other version control
    ".git", ".hg", ".svn",
})
_VENDORED_SUFFIXES = (".egg-info",)

_SECRET_NAMES = frozenset({
    ".env", ".netrc", "_netrc", ".npmrc", ".pypirc", ".pgpass", ".git-credentials", ".htpasswd",
    ".dockercfg", "credentials", "credentials.json", "credentials.yml", "credentials.yaml",
    "credentials.xml", "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "id_ecdsa_sk", "id_ed25519_sk",
})
_SECRET_PREFIXES = (".env.", "secrets.", "secret.")
_SECRET_SUFFIXES = (
    ".env", ".pem", ".key", ".p12", ".pfx", ".jks", ".keystore", ".kdbx", ".gpg", ".ovpn",
    ".tfstate", ".tfstate.backup", ".tfvars",
)

_BINARY_EXTS = frozenset(re.split(r"\s+", """
    png jpg jpeg gif bmp ico icns cur tif tiff webp avif heic heif psd xcf ai sketch fig eps raw
    mp3 wav ogg oga flac aac m4a opus mid midi mp4 m4v mov avi mkv webm wmv flv swf
    zip tar gz tgz bz2 tbz tbz2 xz txz 7z rar zst lz lz4 lzma cab deb rpm dmg iso img apk aab ipa
    msi whl egg jar war ear aar nupkg gem crate
    ttf otf woff woff2 eot fon
    so dylib dll exe bin o obj a lib ko pyc pyo pyd class wasm node beam dex rlib pdb idb
    pdf doc docx xls xlsx ppt pptx odt ods odp epub
    sqlite sqlite3 db mdb accdb parquet avro orc feather arrow npy npz pkl pickle h5 hdf5 pt pth
    ckpt onnx safetensors tflite pb mat blend fbx glb
""".strip()))
_BINARY_NAMES = frozenset({".ds_store", "thumbs.db"})

_GENERATED_NAMES = frozenset(name.lower() for name in (
    "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "bun.lock", "bun.lockb",
    "deno.lock", "poetry.lock", "Pipfile.lock", "uv.lock", "pdm.lock", "Cargo.lock", "Gemfile.lock",
    "composer.lock", "go.sum", "mix.lock", "pubspec.lock", "Podfile.lock", "flake.lock",
    "packages.lock.json", "gradle.lockfile", "conda-lock.yml", "Package.resolved",
))
_GENERATED_SUFFIXES = (
    ".min.js", ".min.mjs", ".min.css", ".map", "_pb2.py", "_pb2.pyi", "_pb2_grpc.py", ".pb.go",
    ".pb.cc", ".pb.h", ".pb.swift", "_pb.js", "_pb.d.ts", "_grpc_pb.js", ".g.dart", ".freezed.dart",
    ".designer.cs",
)

_TRANSLATION_EXTS = frozenset({"po", "pot", "mo", "xlf", "xliff"})


def _name_reason(name: str) -> str | None:
    """Skip reason implied by a file name alone (secret, binary-ext, generated), else None."""
    low = name.lower()
    if (low in _SECRET_NAMES or low.startswith(_SECRET_PREFIXES) or low.endswith(_SECRET_SUFFIXES)
            or (low.endswith(".pub") and low[:-4] in _SECRET_NAMES)):
        return SKIP_SECRET
    ext = low.rpartition(".")[2] if "." in low.lstrip(".") else ""
    if ext in _BINARY_EXTS or low in _BINARY_NAMES:
        return SKIP_BINARY
    if low in _GENERATED_NAMES or low.endswith(_GENERATED_SUFFIXES):
        return SKIP_GENERATED
    if ext in _TRANSLATION_EXTS:
        return SKIP_TRANSLATION
    return None


def _is_vendored_dir(name: str) -> bool:
    low = name.lower()
    return low in VENDORED_DIRS or low.endswith(_VENDORED_SUFFIXES)


# --------------------------------------------------------------------------------------------------
# Globs


def _translate_segment(seg: str) -> str:
    """One path segment of a glob as a regex that never matches '/'."""
    out: list[str] = []
    i, n = 0, len(seg)
    while i < n:
        c = seg[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(seg[i]))
        elif c == "[":
            j = i + 1
            if j < n and seg[j] in "!^":
                j += 1
            if j < n and seg[j] == "]":
                j += 1
            while j < n and seg[j] != "]":
                j += 1
            if j >= n:
                out.append(re.escape(c))
            else:
                body = seg[i + 1 : j]
                negate = body[:1] in ("!", "^")
                if negate:
                    body = body[1:]
                body = body.replace("\\", "\\\\").replace("[", "\\[")
                out.append(f"[^/{body}]" if negate else f"[{body}]")
                i = j
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def _compile_glob(pattern: str) -> re.Pattern[str] | None:
    p = pattern.strip()
    if p.startswith("./"):
        p = p[2:]
    dir_only = p.endswith("/")
    anchored = p.startswith("/")
    p = p.strip("/")
    if not p:
        return None
    anchored = anchored or "/" in p
    parts = p.split("/")
    out = "" if anchored else "(?:.*/)?"
    glue = ""  # separator owed before the next ordinary segment
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "**":
            if i == 0:
                out += ".*" if last else "(?:.*/)?"
            else:
                out += "/.*" if last else "/(?:.*/)?"
            glue = ""
            continue
        out += glue + _translate_segment(part)
        glue = "/"
    out += "/.*" if dir_only else "(?:/.*)?"
    return re.compile(out, re.DOTALL)


def match_glob(pattern: str, path: str) -> bool:
    """Whether an include/exclude glob matches a repository-relative POSIX path (see module docs)."""
    rx = _compile_glob(pattern)
    return bool(rx and rx.fullmatch(path))


class _Filter:
    """A repository's include/exclude lists, compiled once per snapshot."""

    def __init__(self, include: list[str], exclude: list[str]) -> None:
        self.include = [rx for rx in map(_compile_glob, include) if rx]
        self.exclude = [rx for rx in map(_compile_glob, exclude) if rx]

    def excluded(self, path: str) -> bool:
        if self.include and not any(rx.fullmatch(path) for rx in self.include):
            return True
        return any(rx.fullmatch(path) for rx in self.exclude)

    def excludes_whole_dir(self, path: str) -> bool:
        """True when an exclude glob matches the directory itself, so nothing below can be indexed."""
        return any(rx.fullmatch(path + "/") for rx in self.exclude)


def _path_reason(path: str, flt: _Filter) -> str | None:
    """Skip reason from the path's directories and the include/exclude globs."""
    parts = path.split("/")
    if any(_is_vendored_dir(d) for d in parts[:-1]):
        return SKIP_VENDORED
    if flt.excluded(path):
        return SKIP_EXCLUDED
    return None


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


def _git_env(network: bool = False, cwd: Path | None = None) -> dict[str, str]:
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
                              capture_output=True, stdin=subprocess.DEVNULL, env=_git_env(), check=False)
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


class _CatFile:
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


# --------------------------------------------------------------------------------------------------
# Snapshot


@dataclass
class Snapshot:
    """The files of one repository at one point in time, and why the others were left out.

    `read()` returns what was listed: a git snapshot reads blobs of the recorded commit (never the
    work tree), a directory snapshot reads the file on disk. Close it (or use `with`) to stop the
    git reader process.
    """

    name: str
    root: Path
    commit: str | None
    branch: str | None
    files: list[SourceFile]
    skipped: collections.Counter[str] = field(default_factory=collections.Counter)
    skipped_paths: list[tuple[str, str]] = field(default_factory=list)
    _catfile: _CatFile | None = field(default=None, repr=False, compare=False)
    _by_path: dict[str, SourceFile] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_path = {f.path: f for f in self.files}

    def read(self, path: str) -> bytes:
        """Content of an offered file; KeyError for a path not in `files`, SourceError if unreadable."""
        source = self._by_path.get(path)
        if source is None:
            raise KeyError(f"{path!r} is not a file of repository {self.name!r}")
        if self._catfile is not None:
            return self._catfile.read(source.blob)
        try:
            # O_NOFOLLOW: a file swapped for a symlink after listing must still not be followed.
            fd = os.open(self.root / path, _OPEN_FLAGS)
            with os.fdopen(fd, "rb") as fh:
                return fh.read()
        except OSError as exc:
            raise SourceError(f"repo '{self.name}': cannot read {path}: {exc.strerror or exc}") from None

    def close(self) -> None:
        if self._catfile is not None:
            self._catfile.close()

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class _Collector:
    def __init__(self) -> None:
        self.files: list[SourceFile] = []
        self.skipped: collections.Counter[str] = collections.Counter()
        self.skipped_paths: list[tuple[str, str]] = []

    def skip(self, path: str, reason: str) -> None:
        self.skipped[reason] += 1
        self.skipped_paths.append((path, reason))

    def snapshot(self, *, name: str, root: Path, commit: str | None, branch: str | None,
                 catfile: _CatFile | None) -> Snapshot:
        self.files.sort(key=lambda f: f.path)
        self.skipped_paths.sort()
        return Snapshot(name=name, root=root, commit=commit, branch=branch, files=self.files,
                        skipped=self.skipped, skipped_paths=self.skipped_paths, _catfile=catfile)


# --------------------------------------------------------------------------------------------------
# Arguments


_URL_SCHEMES = ("http://", "https://", "ssh://", "git://", "file://", "git+ssh://", "ssh+git://")
_SCP_LIKE = re.compile(r"^[A-Za-z0-9._~-]+@[A-Za-z0-9._-]+:(?!//)")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _is_url(arg: str) -> bool:
    return arg.lower().startswith(_URL_SCHEMES) or bool(_SCP_LIKE.match(arg))


def _is_git_dir(path: Path) -> bool:
    """A bare repository or a `.git` directory: something to clone from, not to walk."""
    return (path / "HEAD").is_file() and (path / "objects").is_dir() and (path / "refs").is_dir()


def _default_name(location: str) -> str:
    """A repository name from the last component of a URL or path, fitted to RepoConfig's pattern."""
    if location.lower().startswith(_URL_SCHEMES):
        tail = urlsplit(location).path
    elif _SCP_LIKE.match(location):
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
    if _is_url(arg):
        location, kwargs = arg, {"url": arg}
    else:
        path = Path(arg).expanduser()
        if not path.exists():
            raise SourceError(f"{arg}: no such file or directory")
        path = path.resolve()
        if not path.is_dir():
            raise SourceError(f"{arg}: is not a directory")
        if _is_git_dir(path):
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
    flt = _Filter(repo.include, repo.exclude)
    if repo.branch is not None and repo.branch.startswith("-"):
        raise SourceError(f"repo '{repo.name}': invalid branch name {repo.branch!r}")
    if repo.url:
        return _open_url(repo, Path(cache_dir), max_file_bytes, flt, fetch)
    assert repo.path is not None
    root = Path(repo.path).expanduser()
    if not root.exists():
        raise SourceError(f"repo '{repo.name}': {root} does not exist")
    if not root.is_dir():
        raise SourceError(f"repo '{repo.name}': {root} is not a directory")
    root = root.resolve()
    env = _git_env()
    proc = _run_git(["rev-parse", "--is-bare-repository", "--is-inside-work-tree", "--absolute-git-dir",
                     "--show-prefix"], cwd=root, env=env)
    if proc.returncode != 0:
        if b"dubious ownership" in proc.stderr:  # walking it would silently index uncommitted files
            raise SourceError(f"repo '{repo.name}': {_git_reason(proc.stderr)}")
        return _open_dir(repo, root, max_file_bytes, flt)  # not in a git repository at all
    lines = proc.stdout.decode("utf-8", "surrogateescape").split("\n")
    bare, in_work_tree, git_dir = lines[0] == "true", lines[1] == "true", Path(lines[2])
    prefix = lines[3] if len(lines) > 3 else ""
    if bare or not in_work_tree:
        if git_dir.resolve() != root:
            raise SourceError(f"repo '{repo.name}': {root} is inside a git directory, not a work tree")
        # A bare repository (or a .git directory) has no files of its own to fall back to.
        walk_if_empty = False
    elif prefix:
        return _open_dir(repo, root, max_file_bytes, flt)  # a subdirectory of a work tree: what's on disk
    else:
        walk_if_empty = True

    def no_commits() -> Snapshot:
        if walk_if_empty:
            return _open_dir(repo, root, max_file_bytes, flt)
        return _Collector().snapshot(name=repo.name, root=root, commit=None, branch=repo.branch, catfile=None)

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
    return _open_commit(repo, root, env, commit, branch, max_file_bytes, flt)


def _resolve_branch(cwd: Path, env: dict[str, str], branch: str, refs: tuple[str, ...]) -> str | None:
    for ref in (*refs, branch):
        sha = _git_ok(["rev-parse", "-q", "--verify", f"{ref}^{{commit}}"], cwd=cwd, env=env)
        if sha:
            return sha
    return None


def _open_url(repo: RepoConfig, cache_dir: Path, max_file_bytes: int, flt: _Filter, fetch: bool) -> Snapshot:
    assert repo.url is not None
    url = repo.url
    if not _is_url(url):  # a local repository path: relative to where dayone runs, not to the cache
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
                 env=_git_env(network=True), repo=repo.name, what=f"git clone of {shown}")
            if dest.exists():
                dest.rmdir()
            tmp.rename(dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        cloned = True
    env = _git_env(network=True, cwd=dest)
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
                return _Collector().snapshot(name=repo.name, root=dest, commit=None, branch=repo.branch,
                                             catfile=None)  # an empty remote
            raise SourceError(f"repo '{repo.name}': unknown branch '{repo.branch}' at {shown}")
        return _open_commit(repo, dest, env, commit, repo.branch, max_file_bytes, flt)

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
            return _Collector().snapshot(name=repo.name, root=dest, commit=None, branch=None, catfile=None)
        raise SourceError(f"repo '{repo.name}': cannot tell the default branch of {shown}; set 'branch'")
    branch, commit = found
    return _open_commit(repo, dest, env, commit, branch, max_file_bytes, flt)


def _open_commit(repo: RepoConfig, root: Path, env: dict[str, str], commit: str, branch: str | None,
                 max_file_bytes: int, flt: _Filter) -> Snapshot:
    listing = _run_git(["ls-tree", "-r", "-l", "-z", "--full-tree", commit], cwd=root, env=env)
    if listing.returncode != 0:
        raise SourceError(f"repo '{repo.name}': git ls-tree failed: {_git_reason(listing.stderr)}")
    out = _Collector()
    catfile = _CatFile(root, env, repo.name)
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
        reason = _path_reason(path, flt)
        if reason is None:
            if mode == b"160000":
                reason = SKIP_SUBMODULE
            elif mode == b"120000":
                links.append((path, sha.decode("ascii")))
                continue
            else:
                reason = _name_reason(path.rpartition("/")[2])
        size = int(size_text) if size_text.isdigit() else 0
        if reason is None and size > max_file_bytes:
            reason = SKIP_TOO_LARGE
        if reason is None:
            out.files.append(SourceFile(path=path, blob=sha.decode("ascii"), size=size))
        else:
            out.skip(path, reason)
    for path, sha in links:
        target = catfile.read(sha).decode("utf-8", "surrogateescape")
        out.skip(path, SKIP_SYMLINK_OUTSIDE if _link_leaves(path, target) else SKIP_SYMLINK)
    return out.snapshot(name=repo.name, root=root, commit=commit, branch=branch, catfile=catfile)


def _link_leaves(path: str, target: str) -> bool:
    """Whether a link at repo-relative `path` pointing at `target` lands outside the root (lexically)."""
    if target.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", target):
        return True
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
    return resolved == ".." or resolved.startswith("../")


_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _git_blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _open_dir(repo: RepoConfig, root: Path, max_file_bytes: int, flt: _Filter) -> Snapshot:
    out = _Collector()
    real_root = os.path.realpath(root)
    pending = [""]
    while pending:
        rel_dir = pending.pop()
        try:
            with os.scandir(root / rel_dir if rel_dir else root) as it:
                entries = list(it)
        except OSError:
            out.skip(rel_dir + "/", SKIP_UNREADABLE)
            continue
        for entry in entries:
            path = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            try:
                path.encode("utf-8")
            except UnicodeEncodeError:
                out.skip(path.encode("utf-8", "surrogateescape").decode("utf-8", "replace"), SKIP_UNREADABLE)
                continue
            _walk_entry(entry, path, out, pending, flt, real_root, max_file_bytes)
    return out.snapshot(name=repo.name, root=root, commit=None, branch=None, catfile=None)


def _walk_entry(entry: os.DirEntry[str], path: str, out: _Collector, pending: list[str], flt: _Filter,
                real_root: str, max_file_bytes: int) -> None:
    try:
        is_link = entry.is_symlink()
        is_dir = not is_link and entry.is_dir(follow_symlinks=False)
    except OSError:
        out.skip(path, SKIP_UNREADABLE)
        return
    if entry.name == ".git":
        return  # repository metadata, not content
    if is_dir:
        if _is_vendored_dir(entry.name):
            out.skip(path + "/", SKIP_VENDORED)
        elif flt.excludes_whole_dir(path):
            out.skip(path + "/", SKIP_EXCLUDED)
        else:
            pending.append(path)
        return
    reason = _path_reason(path, flt)
    if reason is None and is_link:
        target = os.path.realpath(entry.path)
        inside = target == real_root or target.startswith(real_root.rstrip(os.sep) + os.sep)
        reason = SKIP_SYMLINK if inside else SKIP_SYMLINK_OUTSIDE
    if reason is None:
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            st = None
        if st is None or not stat.S_ISREG(st.st_mode):
            reason = SKIP_UNREADABLE
        else:
            reason = _name_reason(entry.name)
            if reason is None and st.st_size > max_file_bytes:
                reason = SKIP_TOO_LARGE
    if reason is not None:
        out.skip(path, reason)
        return
    data = _read_regular(entry.path)
    if data is None:
        out.skip(path, SKIP_UNREADABLE)
    else:
        out.files.append(SourceFile(path=path, blob=_git_blob_sha(data), size=len(data)))


def _read_regular(full_path: str) -> bytes | None:
    try:
        fd = os.open(full_path, _OPEN_FLAGS | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as fh:
            return fh.read()
    except OSError:
        return None
