"""People to ask: who changed these files most, lately, and who owns them by CODEOWNERS.

A new hire reading an answer wants a name, not a blame view. From the repository's git history over the last
`tour.people_months` months, each commit touching a file credits its author with log(1 + lines changed),
halved every `half_life_days` of age (default: half the window), so a big recent change counts more than an
old typo fix, and a mechanical 10,000-line reformat does not bury everyone else. Renames are followed:
commits made under a file's old name count for its new one. CODEOWNERS (root, .github/, docs/; the last
matching rule wins, as on the code hosts) adds the owners of each file. Names and emails come from git
(through .mailmap) and owners exactly as CODEOWNERS writes them; nothing is looked up anywhere else.
A file nobody changed within the window is not left without a name: its all-time authors are listed after the
recent ones, each person saying which it is (`basis`: recent, all-time, codeowners).
"""

from __future__ import annotations

import math
import subprocess
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from app.settings import Settings
from app.tour.repofiles import local_root
from indexer.sources import match_glob

CODEOWNERS_LOCATIONS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")  # GitHub's lookup order


class PeopleError(Exception):
    """The repository's history cannot be read (not a git checkout, git missing)."""


@dataclass
class Person:
    name: str
    email: str  # "" for a CODEOWNERS owner that is a handle or team
    score: float = 0.0
    commits: int = 0
    lines: int = 0
    last_change: float = 0.0  # unix time of their latest change to the files
    files: list[str] = field(default_factory=list)
    owns: list[str] = field(default_factory=list)  # CODEOWNERS patterns that name them for these files
    # Why they are listed: "recent" (changed the files within tour.people_months), "all-time" (changed them
    # before, and nobody has since: the fallback for quiet files), "codeowners" (named by CODEOWNERS only).
    basis: str = "recent"

    def to_json(self) -> dict:
        return {"name": self.name, "email": self.email, "score": round(self.score, 3), "commits": self.commits,
                "lines": self.lines, "last_change": time.strftime("%Y-%m-%d", time.gmtime(self.last_change))
                if self.last_change else None, "files": self.files, "codeowner_rules": self.owns,
                "basis": self.basis}

    @property
    def label(self) -> str:
        return f"{self.name} <{self.email}>" if self.email else self.name


@dataclass(frozen=True)
class _Change:
    author: str
    email: str
    when: float
    lines: int


def _git(root: Path, *args: str) -> str:
    try:
        proc = subprocess.run(["git", "-c", "core.quotepath=off", *args], cwd=root, capture_output=True,
                              check=False, stdin=subprocess.DEVNULL, timeout=300)
    except FileNotFoundError:
        raise PeopleError("git is not installed") from None
    except subprocess.TimeoutExpired:
        raise PeopleError(f"{root}: git log took too long") from None
    if proc.returncode != 0:
        reason = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise PeopleError(f"{root}: {reason[-1] if reason else 'git failed'}")
    return proc.stdout.decode("utf-8", "replace")


def _split_rename(spec: str) -> tuple[str, str] | None:
    """numstat's rename forms: 'old => new' and 'dir/{old => new}/file'."""
    if " => " not in spec:
        return None
    if "{" in spec and "}" in spec:
        pre, rest = spec.split("{", 1)
        inner, post = rest.split("}", 1)
        old, new = inner.split(" => ", 1)
        return (pre + old + post).replace("//", "/"), (pre + new + post).replace("//", "/")
    old, new = spec.split(" => ", 1)
    return old, new


def file_history(root: Path, months: int | None, *, now: float | None = None,
                 paths: list[str] | None = None) -> dict[str, list[_Change]]:
    """Current path -> changes in the window (`months` None: all time), renames followed (newest commit first,
    as git log gives). `paths` limits the log to those files (renames are then not followed past them)."""
    now = time.time() if now is None else now
    since = now - months * 30.44 * 86400 if months is not None else 0.0
    # --relative: a repository indexed from a subdirectory of a checkout sees paths relative to it.
    window = [f"--since={int(since)}"] if months is not None else []
    out = _git(root, "log", "-M", "--no-merges", "--numstat", "--relative", *window,
               "--format=\x1e%aN\x1f%aE\x1f%at", "HEAD", *(["--", *paths] if paths else []))
    alias: dict[str, str] = {}  # a path as it was named in older commits -> its current path
    history: dict[str, list[_Change]] = defaultdict(list)
    for record in out.split("\x1e")[1:]:
        header, _, body = record.partition("\n")
        try:
            name, email, when_s = header.split("\x1f")
            when = float(when_s)
        except ValueError:
            continue
        if when < since:
            continue
        for line in body.splitlines():
            parts = line.split("\t")
            if len(parts) != 3:
                continue
            added, deleted, spec = parts
            lines = (int(added) if added.isdigit() else 1) + (int(deleted) if deleted.isdigit() else 0)
            renamed = _split_rename(spec)
            if renamed:
                old, new = renamed
                current = alias.get(new, new)
                alias[old] = current
            else:
                current = alias.get(spec, spec)
            history[current].append(_Change(name, email.lower(), when, lines))
    return history


@dataclass(frozen=True)
class OwnerRule:
    pattern: str
    owners: tuple[str, ...]
    path: str  # the CODEOWNERS file
    line: int


def read_codeowners(root: Path) -> list[OwnerRule]:
    """The rules of the first CODEOWNERS found at HEAD (or on disk for a directory that is not a git checkout)."""
    for location in CODEOWNERS_LOCATIONS:
        try:
            text = _git(root, "show", f"HEAD:{location}")
        except PeopleError:
            file = root / location
            if not file.is_file() or (root / ".git").exists():
                continue
            text = file.read_text(errors="replace")
        rules = []
        for n, raw in enumerate(text.splitlines(), 1):
            line = raw.split(" #", 1)[0].strip()
            if not line or line.startswith("#"):
                continue
            fields = line.split()
            rules.append(OwnerRule(fields[0], tuple(fields[1:]), location, n))
        return rules
    return []


def owners_of(rules: list[OwnerRule], path: str) -> OwnerRule | None:
    """The rule that applies to `path`: the last one that matches (a rule with no owners unsets ownership)."""
    found = None
    for rule in rules:
        pattern = rule.pattern
        if pattern == "*" or match_glob(pattern.lstrip("/") if pattern != "/" else "**", path):
            found = rule
    return found if found and found.owners else None


def people_to_ask(root: Path, paths: list[str], *, months: int = 12, limit: int = 5,
                  half_life_days: float | None = None, now: float | None = None) -> list[Person]:
    """The people to ask about `paths` (repository-relative), best first. Raises PeopleError without git."""
    now = time.time() if now is None else now
    half_life = half_life_days or months * 30.44 / 2
    history = file_history(root, months, now=now)
    people: dict[str, Person] = {}
    wanted = list(dict.fromkeys(paths))

    def credit(crowd: dict[str, Person], path: str, changes: list[_Change], basis: str) -> None:
        for change in changes:
            key = change.email or change.author
            person = people.get(key) or crowd.setdefault(key, Person(change.author, change.email, basis=basis))
            if person.basis == basis:  # a recent author's older commits do not add to their recent score
                age_days = max(0.0, (now - change.when) / 86400)
                person.score += math.log1p(change.lines) * 0.5 ** (age_days / half_life)
                person.commits += 1
                person.lines += change.lines
                person.last_change = max(person.last_change, change.when)
            if path not in person.files:
                person.files.append(path)

    for path in wanted:
        credit(people, path, history.get(path, []), "recent")
    ranked = sorted(people.values(), key=lambda p: (-p.score, p.name))
    # Files nobody changed within the window: their all-time authors, listed after the recent ones, newest
    # first, and marked as such (a quiet file still has someone who knows it).
    quiet = [p for p in wanted if not history.get(p)]
    if quiet:
        veterans: dict[str, Person] = {}
        older = file_history(root, None, now=now, paths=quiet)
        for path in quiet:
            credit(veterans, path, older.get(path, []), "all-time")
        ranked += sorted(veterans.values(), key=lambda p: (-p.last_change, p.name))
    rules = read_codeowners(root)
    owners: dict[str, Person] = {}
    for path in wanted:
        rule = owners_of(rules, path)
        if rule is None:
            continue
        for owner in rule.owners:
            match = next((p for p in ranked if owner.lower() in (p.email, f"@{p.name}".lower())), None)
            person = match or owners.setdefault(owner, Person(owner, owner if "@" in owner.lstrip("@") else "",
                                                              basis="codeowners"))
            where = f"{rule.path}:{rule.line} {rule.pattern}"
            if where not in person.owns:
                person.owns.append(where)
            if path not in person.files:
                person.files.append(path)
    result = ranked[:limit]
    result += [p for p in list(owners.values()) + ranked[limit:] if p.owns and p not in result]
    return result


def people_for_repo(settings: Settings, repo: str, source: str, paths: list[str], *, limit: int = 5
                    ) -> list[Person]:
    """People to ask about files of an indexed repository (`source` from its manifest entry).

    Uses the repository's local checkout (its path, or the clone of its URL under settings.repo_cache_dir) and
    `tour.people_months`; a repository without a local git checkout gives an empty list.
    """
    root = local_root(settings, repo, source)
    if root is None:
        return []
    try:
        return people_to_ask(root, paths, months=settings.tour.people_months, limit=limit)
    except PeopleError:
        return []


__all__ = ["OwnerRule", "PeopleError", "Person", "file_history", "owners_of", "people_for_repo", "people_to_ask",
           "read_codeowners"]
