"""Training pairs and held-out questions, mined from a repository's history and its code; none written by hand.

Four kinds of (question, code) pairs, each with a hard negative from the same file (else the same directory):

- commit: the cleaned commit message -> each function or class whose lines the commit changed, as it was at
  the parent (found by the diff's old-side line ranges against the tree-sitter chunker's definitions there);
- docstring: a definition's docstring or leading comment -> its code with that docstring removed;
- identifier: a definition's name split into words (`resolve_envvar_value` -> "resolve envvar value") -> its code;
- docs: a README/docs section -> a definition it names in code markup.

Everything is split by time: the cut-off commit fixes which commits train and which are held out, and the
code-side pairs come from the snapshot at the cut-off, the same snapshot the held-out index is built from.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

from app.tune.mining import (
    BlobReader,
    Commit,
    TuneError,
    drop_reason,
    git,
    is_source_code,
    read_commits,
    tree_files,
)
from indexer.chunking.code import CONTAINER_KINDS, FUNCTION_KINDS
from indexer.chunking.models import Chunk, FileChunks
from indexer.pipeline.run import embedding_text, parse_file

# Definitions only: a file's top-level code ("module" chunks: imports, constants) answers no question by itself.
SYMBOL_KINDS = (FUNCTION_KINDS | CONTAINER_KINDS) - {"module"}
MAX_TARGETS = 4  # changed definitions per commit used as positives (the rest of a sweep adds noise)
_IDENT = re.compile(r"`+([A-Za-z_][\w.]*)(?:\(\))?`+|\b([A-Za-z_]\w*(?:\.\w+)+|[a-z]+_\w+|[a-z]+[A-Z]\w*)\(?")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


@dataclass
class Pair:
    kind: str  # commit, docstring, identifier, docs
    query: str
    positive: str
    negative: str
    repo: str
    source: str  # where it came from: a commit sha or a path


@dataclass
class HeldOut:
    """A post-cut-off commit as a question: its message, and the source files and definitions it changed."""

    id: str
    repo: str
    query: str
    gold_files: list[str]
    gold_symbols: list[str]  # qualified names as the chunker gives them
    time: int


@dataclass
class RepoMining:
    repo: str
    cutoff: str  # the last training commit; the held-out index is built at it
    cutoff_time: int
    head: str
    pairs: list[Pair] = field(default_factory=list)
    heldout: list[HeldOut] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)
    commits_total: int = 0
    commits_train: int = 0

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for p in self.pairs:
            out[p.kind] += 1
        return dict(out)

    def summary(self) -> dict:
        return {"repo": self.repo, "cutoff": self.cutoff, "cutoff_time": self.cutoff_time, "head": self.head,
                "commits": self.commits_total, "commits_train": self.commits_train, "heldout": len(self.heldout),
                "pairs": self.counts(), "dropped": self.dropped}


def split_words(name: str) -> str:
    """`resolve_envvar_value` / `resolveEnvvarValue` / `HTTPError` -> 'resolve envvar value' / 'http error'."""
    words: list[str] = []
    for part in re.split(r"[_\W]+", name):
        words += [w.lower() for w in _CAMEL.findall(part)]
    return " ".join(words)


def strip_docstring(chunk: Chunk) -> str:
    """The chunk's text without its docstring or leading comment, so a docstring pair cannot match on itself."""
    text = chunk.text
    if chunk.language == "python":
        stripped = re.sub(r'(\n[ \t]*)[rRuU]?("""|\'\'\')[\s\S]*?\2[ \t]*(?=\n|$)', "", text, count=1)
        if stripped != text:
            return stripped
    lines = text.split("\n")
    i = 0
    in_block = False
    while i < len(lines):
        s = lines[i].strip()
        if in_block:
            in_block = "*/" not in s
        elif s.startswith("/*"):
            in_block = "*/" not in s[2:]
        elif not (s.startswith(("//", "#", "*")) or not s):
            break
        i += 1
    return "\n".join(lines[i:])


def doc_query(docstring: str, limit: int = 300) -> str:
    """The docstring's first paragraph, without JSDoc/Sphinx tags: the sentence a person would search with."""
    para = docstring.strip().split("\n\n", 1)[0]
    para = re.sub(r"^\s*[@:]\w+.*$", "", para, flags=re.M)
    return " ".join(para.split())[:limit]


class Snapshot:
    """The chunks of one commit's source tree, by file and directory (the pool for positives and negatives)."""

    def __init__(self, repo_dir: Path, rev: str, blobs: BlobReader):
        self.rev = rev
        self.files: dict[str, FileChunks] = {}
        self.by_dir: dict[str, list[str]] = defaultdict(list)
        self.docs: list[Chunk] = []
        for path in tree_files(repo_dir, rev):
            source = is_source_code(path)
            doc = path.lower().endswith((".md", ".rst")) and ("/" not in path or path.startswith(("docs/", "doc/")))
            if not (source or doc):
                continue
            got = blobs.read(rev, path)
            if got is None:
                continue
            fc, _ = parse_file(path, got[1], max_tokens=256, window_lines=40, count_tokens=None)
            if isinstance(fc, str):
                continue
            if source:
                self.files[path] = fc
                self.by_dir[str(PurePosixPath(path).parent)].append(path)
            else:
                self.docs += [c for c in fc.chunks if c.kind == "section"]

    def symbol_chunks(self, path: str) -> list[Chunk]:
        fc = self.files.get(path)
        return [c for c in fc.chunks if c.kind in SYMBOL_KINDS] if fc else []

    def negative(self, path: str, avoid: set[str], rng: random.Random) -> Chunk | None:
        """Another definition of the same file, else of a file in the same directory: the hard case."""
        same = [c for c in self.symbol_chunks(path) if c.symbol not in avoid]
        if same:
            return rng.choice(same)
        near = [p for p in self.by_dir.get(str(PurePosixPath(path).parent), []) if p != path]
        pool = [c for p in near for c in self.symbol_chunks(p)]
        if not pool:
            pool = [c for p in self.files for c in self.symbol_chunks(p) if p != path]
        return rng.choice(pool) if pool else None


def changed_chunks(fc: FileChunks, hunks: list) -> list[Chunk]:
    """The innermost definition chunks holding the lines a commit changed (old side, at the parent)."""
    symbols = [c for c in fc.chunks if c.kind in SYMBOL_KINDS]
    found: dict[tuple[str, int], Chunk] = {}
    for h in hunks:
        if h.old_len == 0:  # a pure insertion after line old_start: inside a definition only if both sides are
            probes = [(h.old_start, h.old_start + 1)]
        else:
            probes = [(line, line) for line in range(h.old_start, h.old_start + min(h.old_len, 200))]
        for lo, hi in probes:
            holding = [c for c in symbols if c.start_line <= lo and hi <= c.end_line]
            if holding:
                best = min(holding, key=lambda c: c.end_line - c.start_line)
                found[(best.symbol, best.part)] = best
    return list(found.values())


def commit_targets(c: Commit, blobs: BlobReader, cache: dict[str, FileChunks]) -> list[Chunk]:
    chunks: list[Chunk] = []
    for path, hunks in c.hunks.items():
        if not is_source_code(path):
            continue
        got = blobs.read(c.parent, path)
        if got is None:
            continue
        if got[0] not in cache:
            fc, _ = parse_file(path, got[1], max_tokens=256, window_lines=40, count_tokens=None)
            cache[got[0]] = fc if not isinstance(fc, str) else FileChunks(path=path, language="text")
        chunks += changed_chunks(cache[got[0]], hunks)
    return chunks


def choose_cutoff(times: list[int], holdout: int) -> int:
    """Index of the last training commit: the final `holdout` kept commits (at least 15%, at most 40%) follow."""
    n = len(times)
    if n < 20:
        raise TuneError(f"only {n} usable commits: too few to tune on and to hold out from (20 or more needed)")
    held = max(min(holdout, int(n * 0.4)), int(n * 0.15), 5)
    return n - held - 1


def mine_repo(name: str, repo_dir: Path, *, holdout: int = 100, cutoff: str | None = None, seed: int = 0,
              max_snapshot_pairs: int = 800, max_targets: int = MAX_TARGETS) -> RepoMining:
    """All pairs before the cut-off and the held-out questions after it, for one repository with history.

    `cutoff` (a commit or date-ish rev) fixes the split; otherwise the last `holdout` usable commits are held
    out. Held-out gold is limited to files that exist at the cut-off, the snapshot their index is built from.
    """
    rng = random.Random(seed)
    commits = read_commits(repo_dir)
    dropped: dict[str, int] = defaultdict(int)
    kept: list[tuple[Commit, list[Chunk]]] = []
    cache: dict[str, FileChunks] = {}
    with BlobReader(repo_dir) as blobs:
        for c in commits:
            why = drop_reason(c)
            targets: list[Chunk] = []
            if why is None:
                targets = commit_targets(c, blobs, cache)
                if not targets:
                    why = "no definitions changed"
                elif len({t.symbol for t in targets}) > 3 * MAX_TARGETS:
                    why = "huge"
            if why:
                dropped[why] += 1
                continue
            kept.append((c, targets))
        kept.sort(key=lambda t: t[0].time)
        if cutoff:
            cut_sha = git(repo_dir, "rev-parse", "--verify", f"{cutoff}^{{commit}}").decode().strip()
        else:
            cut_sha = kept[choose_cutoff([c.time for c, _ in kept], holdout)][0].sha
        cut_time = int(git(repo_dir, "show", "-s", "--format=%ct", cut_sha).decode().strip())
        # The snapshot at the cut-off holds exactly its ancestors: they train, every other commit is held out
        # (by ancestry, not timestamps, which tie within a second and lie on rebased branches).
        ancestors = set(git(repo_dir, "rev-list", cut_sha).decode().split())
        train = [t for t in kept if t[0].sha in ancestors]
        held = [t for t in kept if t[0].sha not in ancestors]
        snap = Snapshot(repo_dir, cut_sha, blobs)
    result = RepoMining(repo=name, cutoff=cut_sha, cutoff_time=cut_time, head=commits[-1].sha if commits else "",
                        dropped=dict(dropped), commits_total=len(commits), commits_train=len(train))
    for c, targets in train:
        message = c.message
        touched = {t.symbol for t in targets}
        for t in rng.sample(targets, min(max_targets, len(targets))):
            neg = snap.negative(t.path, touched, rng)
            if neg is not None:
                result.pairs.append(Pair("commit", message, embedding_text(t), embedding_text(neg), name, c.sha))
    result.pairs += snapshot_pairs(snap, name, rng, max_snapshot_pairs)
    for c, targets in held[:holdout]:
        files = sorted({t.path for t in targets if t.path in snap.files})
        symbols = sorted({t.symbol for t in targets if t.path in snap.files})
        if files:
            result.heldout.append(HeldOut(f"{name}@{c.sha[:10]}", name, c.message, files, symbols, c.time))
    return result


def snapshot_pairs(snap: Snapshot, repo: str, rng: random.Random, limit: int) -> list[Pair]:
    """Docstring, identifier and docs-section pairs from the cut-off snapshot, each kind capped at `limit`."""
    doc_pairs: list[Pair] = []
    ident_pairs: list[Pair] = []
    by_name: dict[str, list[Chunk]] = defaultdict(list)
    for path in sorted(snap.files):
        for c in snap.symbol_chunks(path):
            if c.part != 1:
                continue
            by_name[c.name].append(c)
            neg = snap.negative(path, {c.symbol}, rng)
            if neg is None:
                continue
            query = doc_query(c.docstring)
            if len(query) >= 20:
                body = strip_docstring(c)
                head = f"{c.path}\n{c.symbol}\n"
                doc_pairs.append(Pair("docstring", query, head + body, embedding_text(neg), repo, path))
            words = split_words(c.name)
            if len(words.split()) >= 2:
                ident_pairs.append(Pair("identifier", words, embedding_text(c), embedding_text(neg), repo, path))
    docs_pairs: list[Pair] = []
    for section in snap.docs:
        names = {m.group(1) or m.group(2) for m in _IDENT.finditer(section.text)}
        for full in sorted(names):
            short = full.rsplit(".", 1)[-1]
            defs = by_name.get(short, [])
            if not defs or len(defs) > 2 or len(short) < 4:
                continue
            target = defs[0]
            neg = snap.negative(target.path, {target.symbol}, rng)
            if neg is not None:
                query = " ".join(f"{section.symbol}\n{section.text}".split())[:400]
                docs_pairs.append(Pair("docs", query, embedding_text(target), embedding_text(neg), repo,
                                       section.path))
    out: list[Pair] = []
    for group in (doc_pairs, ident_pairs, docs_pairs):
        out += rng.sample(group, min(limit, len(group)))
    return out


def pair_dicts(pairs: list[Pair]) -> list[dict]:
    return [asdict(p) for p in pairs]
