"""Git history read for tuning: commits with their diff hunks, filtered to those that say something.

A commit message is a person describing, in words, the code they just changed: exactly the "where is X handled"
question a new hire asks. This module turns `git log -p -U0` into commits and the line ranges they changed at
their parent, and drops the commits whose message would teach the wrong thing (merges, bots, reverts,
formatting-only or typo changes, releases, and huge sweeping changes whose message says nothing about any one
function). Reading is one `git log` process and one `git cat-file --batch` process per repository.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from indexer.chunking.languages import CODE_LANGUAGES, detect_language

_BOT = re.compile(r"\[bot\]|dependabot|renovate|greenkeeper|github-actions|snyk-bot|pre-commit-ci|allcontributors",
                  re.I)
_REVERT = re.compile(r"^\s*revert\b", re.I)
_FORMATTING = re.compile(
    r"\b(black|prettier|isort|reformat\w*|formatting|format code|lint\w*|flake8|ruff|pre-commit|whitespace|"
    r"typos?|eslint|code style|trailing)\b", re.I)
# Chores: the message names a tool or a policy, not the code it touched.
_CHORE = re.compile(r"\b(dependenc(y|ies)|deps|pyright|mypy|type (hints?|annotations?|check\w*)|typing|"
                    r"python versions?|node versions?|tox|ci|workflows?|pyupgrade|copyright|licen[cs]e|changelog|"
                    r"changes\.rst|release notes|contributors?|coverage|sponsor\w*|deprecation warnings?)\b", re.I)
_RELEASE = re.compile(r"^\s*(release|bump|version|v?\d+\.\d+(\.\d+)?\b|prepare\s+(for\s+)?(release|\d))", re.I)
_TRAILER = re.compile(r"^(signed-off-by|co-authored-by|reviewed-by|pr-url|pr-close|closes|fixes|refs?|see)\b.*$",
                      re.I | re.M)
_ISSUE_REF = re.compile(r"\s*\((?:#\d+(?:,\s*)?)+\)|\s*\bgh-\d+\b|\s*#\d+\b")
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
# Test, doc and example files: a commit's gold is the source code it changed, as in the hand-written eval.
_NOT_SOURCE = re.compile(
    r"(^|/)(tests?|testing|__tests__|spec|specs|test_utils|docs?|documentation|examples?|samples?|benchmarks?|"
    r"docs_src|scripts?)/|(^|/)test_[^/]*$|_test\.\w+$|\.(test|spec)\.\w+$|(^|/)(setup|conftest|noxfile)\.py$")

MAX_FILES = 15  # more code files than this in one commit: a sweep (rename, move, style), its message is generic
MAX_LINES = 400  # changed lines (added + removed)


class TuneError(Exception):
    """Tuning cannot go on; the message says what to fix."""


@dataclass
class Hunk:
    old_start: int
    old_len: int


@dataclass
class Commit:
    sha: str
    parent: str
    time: int  # committer time, seconds since the epoch
    author: str
    email: str
    subject: str
    body: str
    hunks: dict[str, list[Hunk]] = field(default_factory=dict)  # path at the parent -> changed ranges there
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    files: int = 0
    paths: set[str] = field(default_factory=set)  # every path the commit touched, old or new side

    @property
    def message(self) -> str:
        return clean_message(self.subject, self.body)


def clean_message(subject: str, body: str, limit: int = 400) -> str:
    """Subject and the body's first paragraph, without trailers or issue numbers (noise to an embedder)."""
    para = body.strip().split("\n\n", 1)[0] if body.strip() else ""
    para = _TRAILER.sub("", para)
    if para.lstrip().startswith(("*", "-", "This reverts", "(cherry picked", "Merge")):
        para = ""
    text = _ISSUE_REF.sub("", f"{subject.strip()}\n{para.strip()}").strip()
    text = re.sub(r"[ \t]+", " ", text)
    return text[:limit].strip()


def is_source_code(path: str) -> bool:
    """A source file in a language the chunker parses, not a test, doc, example or build script."""
    lang = detect_language(path)
    return lang in CODE_LANGUAGES and not _NOT_SOURCE.search(path)


def git(repo: Path, *args: str, input: bytes | None = None) -> bytes:
    try:
        out = subprocess.run(["git", "-C", str(repo), "-c", "core.quotepath=off", *args], input=input,
                             capture_output=True, check=True)
    except subprocess.CalledProcessError as exc:
        raise TuneError(f"git {' '.join(args[:2])} in {repo} failed: "
                        f"{exc.stderr.decode(errors='replace').strip().splitlines()[-1:]}") from None
    except FileNotFoundError:
        raise TuneError("git is not installed") from None
    return out.stdout


def has_history(path: Path) -> bool:
    return path.is_dir() and subprocess.run(["git", "-C", str(path), "rev-parse", "--verify", "-q", "HEAD"],
                                            capture_output=True).returncode == 0


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").decode().strip()


_SEP_COMMIT, _SEP_FIELD, _SEP_END = "\x01", "\x02", "\x03"


def read_commits(repo: Path, rev: str = "HEAD") -> list[Commit]:
    """Every non-merge commit reachable from rev, oldest first, with its diff against its first parent."""
    fmt = _SEP_COMMIT + _SEP_FIELD.join(["%H", "%P", "%ct", "%an", "%ae", "%s", "%b"]) + _SEP_END
    proc = subprocess.Popen(
        ["git", "-C", str(repo), "-c", "core.quotepath=off", "log", "--no-merges", "--reverse",
         "-p", "-U0", "--no-color", "--no-ext-diff", "--no-renames", f"--format={fmt}", rev],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    commits = list(_parse_log(line.decode("utf-8", errors="replace") for line in proc.stdout))
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.wait() != 0:
        raise TuneError(f"git log in {repo} failed: {err.strip()}")
    return commits


def _parse_log(lines: Iterator[str]) -> Iterator[Commit]:
    current: Commit | None = None
    header: list[str] = []
    in_header = False
    path: str | None = None
    for raw in lines:
        line = raw.rstrip("\n")
        if line.startswith(_SEP_COMMIT):
            if current is not None:
                yield current
            current, path = None, None
            header = [line[1:]]
            in_header = _SEP_END not in line
            if not in_header:
                current = _commit_from(header)
            continue
        if in_header:
            header.append(line)
            if _SEP_END in line:
                in_header = False
                current = _commit_from(header)
            continue
        if current is None:
            continue
        if line.startswith("diff --git "):
            current.files += 1
            path = None
        elif line.startswith("--- "):
            old = line[4:]
            path = old[2:] if old.startswith("a/") else None
            if path:
                current.paths.add(path)
        elif line.startswith("+++ "):
            if line.startswith("+++ b/"):
                current.paths.add(line[6:])
        elif line.startswith("@@"):
            m = _HUNK.match(line)
            if m and path is not None:
                old_len = 1 if m.group(2) is None else int(m.group(2))
                current.hunks.setdefault(path, []).append(Hunk(int(m.group(1)), old_len))
        elif line.startswith("+"):
            current.added.append(line[1:])
        elif line.startswith("-"):
            current.removed.append(line[1:])
    if current is not None:
        yield current


def _commit_from(header: list[str]) -> Commit:
    text = "\n".join(header).split(_SEP_END, 1)[0]
    sha, parents, ct, author, email, subject, body = (text.split(_SEP_FIELD) + [""] * 7)[:7]
    return Commit(sha=sha.strip(), parent=(parents.split() or [""])[0], time=int(ct or 0), author=author,
                  email=email, subject=subject, body=body)


def _squash(lines: list[str]) -> Counter[str]:
    return Counter(s for s in ("".join(line.split()) for line in lines) if s)


def drop_reason(c: Commit) -> str | None:
    """Why a commit teaches nothing (or the wrong thing) about where code lives, or None to keep it."""
    if not c.parent:
        return "root commit"
    if _BOT.search(c.author) or _BOT.search(c.email):
        return "bot"
    if _REVERT.search(c.subject):
        return "revert"
    if _RELEASE.search(c.subject):
        return "release"
    if _FORMATTING.search(c.subject):
        return "formatting"
    if _CHORE.search(c.subject):
        return "chore"
    if len(c.subject.split()) < 3:
        return "no message"
    code = [p for p in c.paths if is_source_code(p)]
    if not code:
        return "no source code"
    if len(code) > MAX_FILES or len(c.added) + len(c.removed) > MAX_LINES:
        return "huge"
    if _squash(c.added) == _squash(c.removed):
        return "formatting"  # the same non-space characters before and after: reindented or rewrapped
    return None


class BlobReader:
    """`git cat-file --batch`: one process reading many `rev:path` objects."""

    def __init__(self, repo: Path):
        self.proc = subprocess.Popen(["git", "-C", str(repo), "cat-file", "--batch"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def read(self, rev: str, path: str) -> tuple[str, bytes] | None:
        """(blob sha, content) of path at rev, or None when it does not exist there."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        if "\n" in path:
            return None
        self.proc.stdin.write(f"{rev}:{path}\n".encode())
        self.proc.stdin.flush()
        head_line = self.proc.stdout.readline().decode(errors="replace").split()
        if len(head_line) < 3 or head_line[1] == "missing" or head_line[-1] == "missing":
            return None
        size = int(head_line[2])
        data = self.proc.stdout.read(size)
        self.proc.stdout.read(1)  # the newline after the content
        return (head_line[0], data) if head_line[1] == "blob" else None

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait()

    def __enter__(self) -> BlobReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def tree_files(repo: Path, rev: str) -> list[str]:
    return [p for p in git(repo, "ls-tree", "-r", "--name-only", "-z", rev).decode(errors="replace").split("\0") if p]
