"""Build the realistic retrieval eval from real git histories: `python eval/realistic/build.py BUNDLE_DIR`.

Why: questions written beside the code (eval/*.jsonl) are the easy case; what people paste is a bug report or a
change description. This mines those texts from the commits of click, httpx, koa and express (git bundles in
BUNDLE_DIR, e.g. ../shared/histories) and pairs each with what the maintainers' change touched: the non-test,
non-doc implementation files it modified and the innermost definitions its diff lines fall in, named the way
app/evaluation.py names gold symbols (qualified names from the project's tree-sitter chunker, module prefix
removed), read at the change's parent commit. Nothing is written by hand: every query is the commit text as
filed (subject and body; trailers such as Co-authored-by removed), and every number in the README comes from
this script's own counts (written to stats.json).

Each query is pinned to one of a few snapshot commits per repository (chosen greedily to cover the most queries,
each snapshot an ancestor of the query's fix parent, at most WINDOW_DAYS older), and kept only when its gold files
and gold symbols all exist at that snapshot, so an eval run indexes a handful of trees, not one per query.
Output (in --out, default this folder): questions.jsonl, sources.json (snapshot pins), stats.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from indexer.chunking import chunk_file, module_path  # noqa: E402 - after the path set-up above

sys.path.insert(0, str(Path(__file__).resolve().parent))
from realistic_report import write_outputs  # noqa: E402 - this folder is not a package

# project name -> GitHub slug (for commit and issue URLs only; nothing is fetched)
PROJECTS = {"click": "pallets/click", "httpx": "encode/httpx", "koa": "koajs/koa", "express": "expressjs/express"}

MAX_FILES = 8  # a change touching more files is a refactor or a release, not the fix of one report
MAX_LINES = 400  # added + deleted lines over all files
MIN_BODY_WORDS = 12  # a body must say something beyond the subject
WINDOW_DAYS = 730  # a snapshot may be at most this much older than the fix's parent
SNAPSHOTS_PER_REPO = 4
MIN_SNAPSHOT_GAIN = 3  # a further snapshot must add at least this many questions to be worth indexing
HELDOUT_EVERY = 3  # one in three queries of each project is held out for reported figures

CODE_EXTS = (".py", ".js", ".mjs", ".cjs", ".ts")
DOC_EXTS = (".md", ".rst", ".txt", ".adoc", ".html", ".css")
DOC_DIRS = {"docs", "doc", "examples", "example", "artwork"}
TEST_DIRS = {"test", "tests", "testing", "__tests__", "spec", "specs"}
NON_IMPL_NAMES = {"setup.py", "conftest.py", "noxfile.py", "fabfile.py", "tasks.py", "gulpfile.js",
                  "gruntfile.js", "webpack.config.js", "rollup.config.js", "eslint.config.js", "jest.config.js"}
NON_IMPL_DIRS = {".github", "scripts", "script", "tools", "benchmarks", "benchmark", "bench", "support", "requirements"}

BOT_RE = re.compile(r"\[bot\]|dependabot|greenkeeper|renovate|snyk-bot|github-actions|pre-commit-ci|allcontributors",
                    re.I)
REVERT_RE = re.compile(r"^revert\b|this reverts commit", re.I | re.M)
RELEASE_RE = re.compile(
    r"^(?:v?\d+\.\d+(?:\.\d+)?(?:[-.\w]*)$"  # "4.17.1", "v2.0.0-alpha.3"
    r"|(?:release|released|releasing|prepare release|bump version|version bump|changelog)\b"
    r"|version\s+v?\d"
    r"|(?:chore|build)\((?:release|deps|deps-dev)\)"
    r"|(?:bump|upgrade|update) (?:deps|dependencies|version)\b"
    r"|deps(?:-dev)?: )", re.I)
CHORE_RE = re.compile(r"^(?:docs?|tests?|chore|ci|build|style|refactor)(?:\([^)]*\))?!?:", re.I)
TOOLING_RE = re.compile(r"\b(?:ruff|flake8|pylint|mypy|pyright|black|isort|prettier|eslint|jshint|jscs|lint(?:ing|er)?"
                        r"|typos?|type hints?|type annotations?|typing|reformat(?:ted)?|code style|pyupgrade"
                        r"|pre-commit)\b", re.I)
TRAILER_RE = re.compile(r"^(?:co-authored-by|signed-off-by|reviewed-by|acked-by|pr-url|reviewed-on|change-id):", re.I)
ISSUE_REF_RE = re.compile(
    r"\b(?:fix(?:e[sd])?|close[sd]?|resolve[sd]?|ref(?:s)?|see)\s*:?\s*"
    r"(?:(?:https?://github\.com/)?[\w.-]+/[\w.-]+(?:#|/issues/|/pull/))?#?(\d+)\b", re.I)
BARE_REF_RE = re.compile(r"(?:(?:fix(?:e[sd])?|close[sd]?|resolve[sd]?|refs?|see)\s*:?\s*)?(?:[\w./:-]*#?\d+[,\s]*)+",
                         re.I)
SQUASH_CHORE_RE = re.compile(r"\b(?:tests?|testing|docs?|documentation|changelog|typos?|lint|linting|format(?:ting)?"
                             r"|merge|review|feedback|readme|coverage|ruff|mypy|black|flake8|prettier|eslint)\b", re.I)
PR_RE = re.compile(r"\(#(\d+)\)\s*$")
COMMENT_RE = re.compile(r"^\s*(?:#|//|/\*|\*/|\*(?:\s|$)|$)")
HUNK_RE = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@", re.M)

# Filters, in the order they are applied; stats.json counts what each one dropped.
FILTERS = ("bot", "revert", "release/version/dependency bump", "docs/test/chore/refactor by its commit type",
           "lint/typing/formatting", "huge", "docs-only",
           "test-only", "no implementation file", "whitespace/comment-only", "thin message", "no gold symbol at parent",
           "query names a gold path", "not covered by a snapshot")


# --- git -------------------------------------------------------------------------------------------------


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"git {' '.join(args[:3])} in {repo}: {out.stderr.decode(errors='replace').strip()}")
    return out.stdout.decode("utf-8", errors="replace")


def git_bytes(repo: Path, *args: str) -> bytes:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=True).stdout


@dataclass
class Commit:
    sha: str
    parents: list[str]
    author: str
    email: str
    time: int
    message: str
    files: dict[str, tuple[int, int, str]] = field(default_factory=dict)  # path -> (added, deleted, status)

    @property
    def subject(self) -> str:
        return self.message.split("\n", 1)[0].strip()

    @property
    def body(self) -> str:
        return self.message.split("\n", 1)[1].strip() if "\n" in self.message else ""


def list_commits(repo: Path, rev: str = "HEAD") -> list[Commit]:
    """Non-merge commits reachable from rev, newest first, with per-file line counts and status (no renames)."""
    fmt = "%x1e%H%x1f%P%x1f%an%x1f%ae%x1f%ct%x1f%B%x1f"
    raw = git(repo, "log", "--no-merges", "--no-renames", f"--format={fmt}", "--numstat", rev)
    status = git(repo, "log", "--no-merges", "--no-renames", "--format=%x1e%H", "--name-status", rev)
    statuses: dict[str, dict[str, str]] = {}
    for rec in status.split("\x1e")[1:]:
        lines = rec.strip().split("\n")
        statuses[lines[0]] = {p: s[:1] for s, p in (ln.split("\t", 1) for ln in lines[1:] if "\t" in ln)}
    commits = []
    for rec in raw.split("\x1e")[1:]:
        sha, parents, author, email, ctime, message, numstat = rec.split("\x1f")
        c = Commit(sha, parents.split(), author, email, int(ctime), message.strip())
        for line in numstat.strip().split("\n"):
            parts = line.split("\t")
            if len(parts) == 3:
                added, deleted = (int(x) if x.isdigit() else 0 for x in parts[:2])
                c.files[parts[2]] = (added, deleted, statuses.get(sha, {}).get(parts[2], "M"))
        commits.append(c)
    return commits


# --- classification --------------------------------------------------------------------------------------


def file_kind(path: str) -> str:
    """'test', 'doc', 'impl' or 'other' (config, CI, build scripts, benchmarks)."""
    parts = path.lower().split("/")
    name = parts[-1]
    if (TEST_DIRS.intersection(parts[:-1]) or name.startswith("test_") or name == "conftest.py"
            or name.endswith(("_test.py", ".test.js", ".spec.js", ".test.ts", ".spec.ts"))):
        return "test"
    if DOC_DIRS.intersection(parts[:-1]) or name.endswith(DOC_EXTS) or name.split(".")[0] in (
            "history", "changes", "changelog", "readme", "license", "authors", "contributing"):
        return "doc"
    if name.endswith(CODE_EXTS) and name not in NON_IMPL_NAMES and not NON_IMPL_DIRS.intersection(parts[:-1]) \
            and not parts[0].startswith("."):
        return "impl"
    return "other"


def clean_message(message: str) -> str:
    """The commit text as filed, less trailer lines (authorship metadata, not part of the report)."""
    lines = [ln.rstrip() for ln in message.strip().split("\n") if not TRAILER_RE.match(ln.strip())]
    text = "\n".join(lines).strip()
    return re.sub(r"\n(?:-{3,}\s*)$", "", text).strip()  # the squash-merge separator left over


def body_words(message: str) -> int:
    """Words of prose in the body: no trailers, no bare issue references, no repeat of the subject, and of a
    squash merge's list of the PR's commits (`* ...` lines) only those that are not chores (tests, docs, lint,
    merges, review fixes) or the subject again."""
    body = clean_message(message).split("\n", 1)
    if len(body) < 2:
        return 0
    words = 0
    subject = body[0].strip().lower()
    for ln in body[1].split("\n"):
        if ln.startswith("* ") and (SQUASH_CHORE_RE.search(ln) or _near(ln[2:], body[0])):
            continue  # a squash merge's list of the PR's commits: keep what is not a chore or the subject again
        s = ln.strip().lstrip("*-+ ").strip()
        if not s or s.lower() == subject or BARE_REF_RE.fullmatch(s):
            continue
        if re.match(r"(?:test|tests|docs?|chore|ci|style|lint|merge|update history|history)\b", s, re.I):
            continue
        words += len(re.findall(r"[A-Za-z_][\w.]*", s))
    return words


def _near(a: str, b: str) -> bool:
    """Whether two lines say nearly the same words (a squash bullet repeating the PR title)."""
    wa, wb = (set(re.findall(r"\w+", x.lower())) for x in (a, b))
    return bool(wa) and len(wa & wb) / len(wa | wb) > 0.6


def issue_refs(message: str) -> list[int]:
    return sorted({int(n) for n in ISSUE_REF_RE.findall(message)})


# --- diffs and definitions -------------------------------------------------------------------------------


def changed_old_lines(repo: Path, parent: str, sha: str, path: str) -> tuple[list[tuple[int, int]], list[str]]:
    """Old-side line ranges a change touched, ignoring whitespace and blank lines, and the changed lines' text.

    A pure insertion after old line a is returned as (a, a + 1): it is inside a definition only when both
    neighbours are."""
    diff = git(repo, "diff", "-U0", "-w", "--ignore-blank-lines", "--no-renames", parent, sha, "--", path)
    ranges = []
    for m in HUNK_RE.finditer(diff):
        start, count = int(m.group(1)), int(m.group(2) or "1")
        ranges.append((start, start + count - 1) if count else (start, start + 1))
    text = [ln[1:] for ln in diff.split("\n") if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]
    return ranges, text


_DEFS: dict[tuple[str, str], list[tuple[str, int, int]]] = {}


def definitions(repo: Path, rev: str, path: str) -> list[tuple[str, int, int]]:
    """(qualified name without the module prefix, first line, last line): app/evaluation.py's definitions_in,
    read from a git object instead of a file on disk. Cached by blob."""
    blob = git(repo, "rev-parse", f"{rev}:{path}").strip()
    if (blob, path) not in _DEFS:
        fc = chunk_file(path, git_bytes(repo, "cat-file", "blob", blob))
        prefix = module_path(path) + "."
        _DEFS[blob, path] = [(d.qualified_name.removeprefix(prefix), d.start_line, d.end_line)
                             for d in fc.definitions]
    return _DEFS[blob, path]


def gold_symbols(defs: list[tuple[str, int, int]], ranges: Iterable[tuple[int, int]]) -> list[str]:
    """The innermost definition holding each changed line (an insertion counts when both neighbours are inside)."""
    found: set[str] = set()
    for start, end in ranges:
        for line in range(start, end + 1) if end - start < 400 else (start, end):
            holding = [d for d in defs if d[1] <= line <= d[2] and (end != start + 1 or d[1] <= start < end <= d[2])]
            if holding:
                found.add(min(holding, key=lambda d: d[2] - d[1])[0])
    return sorted(found)


# --- mining ----------------------------------------------------------------------------------------------


@dataclass
class Candidate:
    project: str
    commit: Commit
    query: str
    kind: str
    source: str
    gold_files: list[str]
    gold_symbols: list[str]
    refs: list[int]
    pr: int | None = None


def _names_gold_path(text: str, paths: Iterable[str]) -> bool:
    low = text.lower()
    for p in paths:
        forms = {p, p.removeprefix("src/"), p.removeprefix("lib/"), p.rsplit("/", 1)[-1]}
        if any(re.search(r"(?<![\w/.-])" + re.escape(f.lower()) + r"(?![\w-])", low) for f in forms):
            return True
    return False


def mine(repo: Path, project: str, slug: str = "", issues: dict[int, dict] | None = None,
         drops: Counter | None = None) -> list[Candidate]:
    """Candidates from one repository's history; `drops` counts what each filter removed.

    `issues` (number -> {"url", "title", "body"}) optionally supplies issue threads a user fetched themselves:
    when a commit references one, its text is the query (kind "issue") instead of the commit message."""
    drops = drops if drops is not None else Counter()
    out: list[Candidate] = []
    for c in list_commits(repo):
        if len(c.parents) != 1:
            drops["root commit"] += 1
            continue
        reason = _drop_reason(repo, c)
        if reason:
            drops[reason] += 1
            continue
        refs = issue_refs(c.message)
        issue = next((issues[n] for n in refs if issues and n in issues), None)
        if issue:
            query, kind, source = f"{issue['title']}\n\n{issue['body']}".strip(), "issue", issue["url"]
        else:
            query, kind = clean_message(c.message), "commit"
            source = f"https://github.com/{slug}/commit/{c.sha}" if slug else c.sha
        if kind == "commit" and body_words(c.message) < MIN_BODY_WORDS:
            drops["thin message"] += 1
            continue
        parent = c.parents[0]
        gold_files, symbols = [], set()
        for path, (_, _, status) in sorted(c.files.items()):
            if status != "M" or file_kind(path) != "impl":
                continue
            ranges, _ = changed_old_lines(repo, parent, c.sha, path)
            found = gold_symbols(definitions(repo, parent, path), ranges)
            if found:
                gold_files.append(path)
                symbols.update(found)
        if not symbols:
            drops["no gold symbol at parent"] += 1
            continue
        if _names_gold_path(query, gold_files):
            drops["query names a gold path"] += 1
            continue
        pr = PR_RE.search(c.subject)
        out.append(Candidate(project, c, query, kind, source, gold_files, sorted(symbols), refs,
                             int(pr.group(1)) if pr else None))
    return out


def _drop_reason(repo: Path, c: Commit) -> str | None:
    if BOT_RE.search(c.author) or BOT_RE.search(c.email):
        return "bot"
    if REVERT_RE.search(c.message):
        return "revert"
    if RELEASE_RE.match(c.subject):
        return "release/version/dependency bump"
    if CHORE_RE.match(c.subject):
        return "docs/test/chore/refactor by its commit type"
    if TOOLING_RE.search(c.subject):
        return "lint/typing/formatting"
    if len(c.files) > MAX_FILES or sum(a + d for a, d, _ in c.files.values()) > MAX_LINES:
        return "huge"
    kinds = {file_kind(p) for p in c.files}
    if not kinds or kinds == {"doc"}:
        return "docs-only"
    if kinds <= {"test", "doc"}:
        return "test-only"
    impl = [p for p, (_, _, s) in c.files.items() if file_kind(p) == "impl"]
    if not impl:
        return "no implementation file"
    changed = []
    for path in impl:
        if c.files[path][2] == "M":
            changed += changed_old_lines(repo, c.parents[0], c.sha, path)[1]
        else:
            changed.append("(added or deleted file)")
    if all(COMMENT_RE.match(t) for t in changed):
        return "whitespace/comment-only"
    return None


# --- snapshots -------------------------------------------------------------------------------------------


_TREES: dict[tuple[Path, str], dict[str, str]] = {}


def tree(repo: Path, rev: str) -> dict[str, str]:
    """path -> blob of every file at rev."""
    if (repo, rev) not in _TREES:
        out = git(repo, "ls-tree", "-r", "--full-tree", rev)
        _TREES[repo, rev] = {ln.split("\t", 1)[1]: ln.split()[2] for ln in out.splitlines() if "\t" in ln}
    return _TREES[repo, rev]


def holds(repo: Path, rev: str, cand: Candidate) -> bool:
    """Whether every gold file and gold symbol of a candidate exists at rev."""
    files = tree(repo, rev)
    if any(p not in files for p in cand.gold_files):
        return False
    names = {n for p in cand.gold_files for n, _, _ in definitions(repo, rev, p)}
    return all(s in names for s in cand.gold_symbols)


def choose_snapshots(repo: Path, cands: list[Candidate], k: int = SNAPSHOTS_PER_REPO,
                     window_days: int = WINDOW_DAYS) -> tuple[list[str], dict[int, str]]:
    """Greedy cover: up to k snapshot commits (drawn from the candidates' fix parents) that hold the most
    candidates, a snapshot covering a candidate when it is an ancestor of (or is) the fix's parent, at most
    window_days older, and every gold file and symbol exists there. Each candidate goes to the newest chosen
    snapshot that covers it. Returns (snapshots oldest first, candidate index -> snapshot)."""
    times = {}
    ancestors: list[set[str]] = []
    for c in cands:
        parent = c.commit.parents[0]
        since = int(git(repo, "log", "-1", "--format=%ct", parent)) - window_days * 86400
        ancestors.append(set(git(repo, "rev-list", f"--since={since}", parent).split()))
    options = sorted({c.commit.parents[0] for c in cands})
    cover: dict[str, set[int]] = {}
    for s in options:
        times[s] = int(git(repo, "log", "-1", "--format=%ct", s))
        cover[s] = {i for i, c in enumerate(cands) if s in ancestors[i] and holds(repo, s, c)}
    chosen: list[str] = []
    covered: set[int] = set()
    for _ in range(k):
        best = max(options, key=lambda s: (len(cover[s] - covered), times[s], s), default=None)
        if best is None or len(cover[best] - covered) < (MIN_SNAPSHOT_GAIN if chosen else 1):
            break
        chosen.append(best)
        covered |= cover[best]
    chosen.sort(key=lambda s: times[s])
    assign = {}
    for i in covered:
        assign[i] = max((s for s in chosen if i in cover[s]), key=lambda s: times[s])
    return chosen, assign


# --- output ----------------------------------------------------------------------------------------------


def split_of(ids: list[str]) -> dict[str, str]:
    """A held-out third per project: every third id in sha256 order, so the split is exact and stable for a
    given set of ids."""
    ranked = sorted(ids, key=lambda i: hashlib.sha256(i.encode()).hexdigest())
    return {i: "heldout" if n % HELDOUT_EVERY == 0 else "dev" for n, i in enumerate(ranked)}


def _token_counter(settings: object) -> object:
    """The embedding model's own token count (the indexer sizes chunks by it), without loading the model."""
    from tokenizers import Tokenizer

    from indexer.embedding.dense import default_model_path

    tok = Tokenizer.from_file(str(Path(settings.embedding.model_path or default_model_path()) / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return lambda text: len(text) if len(text) <= 254 else len(tok.encode(text, add_special_tokens=True).ids)


def volume(repo: Path, name: str, rev: str, previous: str | None) -> dict:
    """Files and chunks the indexer would take from the tree at rev (its own file filter, content sniffing,
    redaction and chunker, sized by the model's tokenizer), and those of files changed since `previous` (what an
    incremental re-index embeds)."""
    from indexer.pipeline.run import parse_file
    from indexer.settings import IndexerSettings as Settings
    from indexer.settings import RepoConfig
    from indexer.sources import open_snapshot

    s = Settings()
    count = _token_counter(s)
    cfg = RepoConfig(name=name, path=str(repo), branch=rev)
    old = tree(repo, previous) if previous else {}
    files = chunks = changed_files = changed_chunks = 0
    with tempfile.TemporaryDirectory() as cache, open_snapshot(
            cfg, cache_dir=Path(cache), max_file_bytes=s.index.max_file_bytes, fetch=False) as snap:
        for f in snap.files:
            fc, _ = parse_file(f.path, snap.read(f.path), max_tokens=s.index.max_chunk_tokens,
                               window_lines=s.index.text_window_lines, count_tokens=count)
            if isinstance(fc, str):  # skipped (binary or generated content)
                continue
            files, chunks = files + 1, chunks + len(fc.chunks)
            if old.get(f.path) != f.blob:
                changed_files, changed_chunks = changed_files + 1, changed_chunks + len(fc.chunks)
    return {"files": files, "chunks": chunks, "changed_files": changed_files, "changed_chunks": changed_chunks}


def build(bundles: Path, out: Path, work: Path, projects: list[str], issues_file: Path | None = None,
          with_volume: bool = True, log=print) -> dict:  # noqa: ANN001 - log is print-like
    issues: dict[str, dict[int, dict]] = defaultdict(dict)
    if issues_file:
        for line in issues_file.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                issues[r["project"]][int(r["number"])] = r
    records, pins, stats = [], [], {"projects": {}, "filters": list(FILTERS),
                                    "limits": {"max_files": MAX_FILES, "max_lines": MAX_LINES,
                                               "min_body_words": MIN_BODY_WORDS, "window_days": WINDOW_DAYS,
                                               "snapshots_per_repo": SNAPSHOTS_PER_REPO,
                                               "min_snapshot_gain": MIN_SNAPSHOT_GAIN}}
    for project in projects:
        bundle = bundles / f"{project}.bundle"
        repo = work / project
        if not repo.exists():
            subprocess.run(["git", "clone", "-q", str(bundle), str(repo)], check=True)
        head = git(repo, "rev-parse", "HEAD").strip()
        drops: Counter = Counter()
        drops["merge"] = int(git(repo, "rev-list", "--count", "--merges", "HEAD"))
        log(f"{project}: mining {head[:10]} ...")
        cands = mine(repo, project, PROJECTS[project], issues.get(project), drops)
        chosen, assign = choose_snapshots(repo, cands)
        drops["not covered by a snapshot"] = len(cands) - len(assign)
        names = {s: f"{project}-{s[:8]}" for s in chosen}
        prev = None
        for s in chosen:
            date = git(repo, "log", "-1", "--format=%cs", s).strip()
            pin = {"name": names[s], "project": project, "bundle": bundle.name, "commit": s, "date": date,
                   "github": PROJECTS[project], "questions": sum(1 for v in assign.values() if v == s)}
            if with_volume:
                pin["volume"] = volume(repo, names[s], s, prev)
                log(f"  snapshot {names[s]} ({date}): {pin['questions']} questions, {pin['volume']}")
            pins.append(pin)
            prev = s
        kept = [(cands[i], assign[i]) for i in sorted(assign)]
        splits = split_of([f"{project}-{c.commit.sha[:10]}" for c, _ in kept])
        for c, s in kept:
            qid = f"{project}-{c.commit.sha[:10]}"
            slug = PROJECTS[project]
            records.append({
                "id": qid, "repo": names[s], "project": project, "query": c.query,
                "gold_files": c.gold_files, "gold_symbols": c.gold_symbols, "commit": s,
                "fix_commit": c.commit.sha, "fix_parent": c.commit.parents[0], "source": c.source,
                "kind": c.kind, "split": splits[qid],
                "refs": [f"https://github.com/{slug}/issues/{n}" for n in c.refs if n != c.pr]
                + ([f"https://github.com/{slug}/pull/{c.pr}"] if c.pr else [])})
        stats["projects"][project] = {
            "head": head, "non_merge_commits": int(git(repo, "rev-list", "--count", "--no-merges", "HEAD")),
            "dropped": {k: drops[k] for k in ("merge", "root commit", *FILTERS) if drops[k]},
            "candidates": len(cands), "kept": len(kept),
            "candidate_years": dict(sorted(Counter(time.gmtime(c.commit.time).tm_year for c in cands).items())),
            "kept_years": dict(sorted(Counter(time.gmtime(c.commit.time).tm_year for c, _ in kept).items()))}
        log(f"  kept {len(kept)} of {len(cands)} candidates; dropped {dict(drops)}")
    return write_outputs(records, pins, stats, out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("bundles", type=Path, help="folder holding click.bundle, httpx.bundle, koa.bundle, express.bundle")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    ap.add_argument("--work", type=Path, default=None, help="where to clone the bundles (default: a temp folder)")
    ap.add_argument("--projects", nargs="+", default=list(PROJECTS), choices=list(PROJECTS))
    ap.add_argument("--issues", type=Path, default=None,
                    help="JSONL of issue threads {project, number, url, title, body} fetched by you; a commit that "
                         "references one is then queried with the issue's text")
    ap.add_argument("--no-volume", action="store_true", help="skip counting the snapshots' files and chunks")
    args = ap.parse_args(argv)
    missing = [p for p in args.projects if not (args.bundles / f"{p}.bundle").is_file()]
    if missing:
        print(f"error: no {', '.join(m + '.bundle' for m in missing)} in {args.bundles}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        stats = build(args.bundles, args.out, args.work or Path(tmp), args.projects, args.issues,
                      not args.no_volume)
    print(json.dumps({k: stats[k] for k in ("total", "counts", "names_gold_symbol")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
