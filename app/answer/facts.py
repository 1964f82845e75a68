"""The facts card: what the index knows for certain about the symbols a question is about, before the model speaks.

A small model's prose is slow (20-50 s to the first token on two busy cores) and can be wrong; the symbol table is
neither. For the names the question mentions (matched against the symbol table) and the definitions of the best
search hits, the card lists where each is defined (signature, the docstring's first sentence), what it calls and
what calls it (call references resolved by name within the caller's repositories, app/answer/callgraph.py), the
tests that use it (references from test files), and the last commits that touched its file when the repository
has a local git checkout. Every fact carries `repo:path:line`; none is generated text. Everything is read within
the caller's repositories only.
"""

from __future__ import annotations

import html
import re
import subprocess
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from app.answer.callgraph import CALLABLE_KINDS, CODE_KINDS, CallGraph
from app.answer.results import Source
from app.search.retriever import SearchHit, analyze_query, query_identifiers
from app.settings import Settings
from app.tour.repofiles import first_sentence, local_root, symbol_doc
from indexer.catalog.symbols import Location
from indexer.reader import IndexReader

MAX_SYMBOLS = 4  # a card longer than a screen is not read
MAX_EDGES = 5  # callers, callees and tests shown per symbol
MAX_COMMITS = 3
GIT_TIMEOUT_S = 1.5  # a file git has to walk all history for is left without commits rather than hold the card
_TEST_PATH = re.compile(r"(^|/)(tests?|__tests__|specs?|testing)/|(^|/)test_[^/]*$|_tests?\.[A-Za-z]+$|"
                        r"\.(test|spec)\.[jt]sx?$|(^|/)[^/]*Tests?\.(java|kt|cs|swift)$|_spec\.rb$|(^|/)conftest\.py$")


def is_test_path(path: str) -> bool:
    return bool(_TEST_PATH.search(path))


@dataclass(frozen=True)
class Ref:
    """A definition at a location: a caller, a callee or a test."""

    name: str
    repo: str
    path: str
    line: int

    @property
    def location(self) -> str:
        return f"{self.repo}:{self.path}:{self.line}"

    def to_json(self) -> dict:
        return {"name": self.name, "location": self.location}


@dataclass(frozen=True)
class CommitFact:
    sha: str
    date: str
    author: str
    subject: str
    repo: str
    path: str

    @property
    def location(self) -> str:
        return f"{self.repo}:{self.path}@{self.sha}"

    def to_json(self) -> dict:
        return {"sha": self.sha, "date": self.date, "author": self.author, "subject": self.subject,
                "location": self.location}


@dataclass
class SymbolFacts:
    """Everything the card says about one definition."""

    symbol: str  # qualified name
    kind: str
    repo: str
    path: str
    line: int
    end_line: int
    signature: str = ""
    doc: str = ""
    calls: list[Ref] = field(default_factory=list)
    called_by: list[Ref] = field(default_factory=list)
    call_sites: int = 0  # calls of its name in all (called_by shows the first few)
    namesakes: int = 0  # other definitions with the same short name (calls are matched by name)
    tests: list[Ref] = field(default_factory=list)
    commits: list[CommitFact] = field(default_factory=list)

    @property
    def location(self) -> str:
        return f"{self.repo}:{self.path}:{self.line}"

    def to_json(self) -> dict:
        return {"symbol": self.symbol, "kind": self.kind, "location": self.location, "end_line": self.end_line,
                "signature": self.signature, "doc": self.doc, "calls": [r.to_json() for r in self.calls],
                "called_by": [r.to_json() for r in self.called_by], "call_sites": self.call_sites,
                "same_name_definitions": self.namesakes, "tests": [r.to_json() for r in self.tests],
                "commits": [c.to_json() for c in self.commits]}


@dataclass
class FactsCard:
    symbols: list[SymbolFacts]
    elapsed_s: float = 0.0
    # the repositories the question names, searched alone (app/search/scope.py): said on the card, so that a
    # narrowed search never passes for the whole index
    scope: list[str] = field(default_factory=list)

    def scope_line(self) -> str:
        return f"Searched {', '.join(self.scope)} only: the question names it." if self.scope else ""

    def to_json(self) -> list[dict]:
        return [s.to_json() for s in self.symbols]

    def to_text(self) -> str:
        """Plain lines for the terminal."""
        out = [self.scope_line()] if self.scope and self.symbols else []
        for s in self.symbols:
            out.append(f"{s.kind} {s.symbol}  {s.location}")
            if s.signature:
                out.append(f"    {s.signature}")
            if s.doc:
                out.append(f"    \"{s.doc}\"")
            for label, refs, total in (("calls", s.calls, len(s.calls)), ("called by", s.called_by, s.call_sites),
                                       ("tested in", s.tests, len(s.tests))):
                if refs:
                    more = f" (+{total - len(refs)} more)" if total > len(refs) else ""
                    out.append(f"    {label}: " + ", ".join(f"{r.name} {r.location}" for r in refs) + more)
            for c in s.commits:
                out.append(f"    changed {c.date} {c.sha} {c.author}: {c.subject}")
        return "\n".join(out)

    def to_html(self) -> str:
        """The card for the page; every value escaped (code and commit subjects are untrusted text)."""
        if not self.symbols:
            return ""
        e = html.escape
        scope = f" <span class='dayone-scope'>{e(self.scope_line())}</span>" if self.scope else ""
        parts = [f"<div class='dayone-facts' data-facts='{len(self.symbols)}'><div class='dayone-facts-head'>"
                 f"From the index (not generated){scope}</div>"]
        for s in self.symbols:
            rows = [f"<div class='fact-def'><code>{e(s.symbol)}</code> <span class='kind'>{e(s.kind)}</span> "
                    f"<span class='location'>{e(s.location)}</span></div>"]
            if s.signature:
                rows.append(f"<div class='fact-sig'><code>{e(s.signature)}</code></div>")
            if s.doc:
                rows.append(f"<div class='fact-doc'>{e(s.doc)}</div>")
            for label, refs, total in (("calls", s.calls, len(s.calls)), ("called by", s.called_by, s.call_sites),
                                       ("tested in", s.tests, len(s.tests))):
                if refs:
                    more = f" (+{total - len(refs)} more)" if total > len(refs) else ""
                    items = ", ".join(f"<code>{e(r.name)}</code> <span class='location'>{e(r.location)}</span>"
                                      for r in refs)
                    rows.append(f"<div class='fact-{label.replace(' ', '-')}'>{e(label)}: {items}{e(more)}</div>")
            for c in s.commits:
                rows.append(f"<div class='fact-commit'>changed {e(c.date)} <code>{e(c.sha)}</code> "
                            f"{e(c.author)}: {e(c.subject)}</div>")
            parts.append(f"<div class='dayone-fact' data-symbol='{e(s.symbol, quote=True)}'>{''.join(rows)}</div>")
        return "".join(parts) + "</div>"


class FactsBuilder:
    """Builds cards over one open index generation within `repos`."""

    def __init__(self, settings: Settings, reader: IndexReader, repos: list[str] | None):
        self.settings = settings
        self.reader = reader
        self.repos = repos
        self.graph = CallGraph(reader, repos)

    def card(self, question: str, hits: Sequence[SearchHit | Source] | None = None) -> FactsCard:
        started = time.perf_counter()
        if self.repos is not None and not self.repos:
            return FactsCard([], 0.0)
        chosen = self.subjects(question, hits or [])
        facts = [self._facts(loc) for loc in chosen]
        self._add_commits(facts)
        return FactsCard(facts, time.perf_counter() - started)

    def subjects(self, question: str, hits: Sequence[SearchHit | Source]) -> list[Location]:
        """The definitions the question is about: names it writes like code, then plain words that are exactly
        a definition's name, then the best hits' own definitions; at most MAX_SYMBOLS."""
        code, words = query_identifiers(question)
        chosen: list[Location] = []

        def add(locs: list[Location], most: int) -> None:
            for loc in [d for d in locs if d.kind in CODE_KINDS][:most]:
                if loc not in chosen and len(chosen) < MAX_SYMBOLS:
                    chosen.append(loc)

        for name in dict.fromkeys(n for n in code if "." in n):  # `OrderService.pay` before `pay`
            add(self.graph.find(name), 2)
        for name in dict.fromkeys(n for n in code if "." not in n):
            if not any(c.name == name for c in chosen):
                add(self.graph.find(name), 2)
        # a plain word that is only a test's name (itsdangerous's fixture `serializer` for "how does a URL-safe
        # timed serializer ...") is not what the question is about, unless it asks about tests
        testing = "test" in analyze_query(question).wants  # as search decides it (app/search/retriever.py)
        for name, locs in self.graph.named(words).items():
            if len(locs) <= 2 and not any(c.name == name for c in chosen):
                add([d for d in locs if testing or not is_test_path(d.path)], 2)
        for hit in hits:
            if hit.kind not in CODE_KINDS or not self.graph.allowed(hit.repo):
                continue
            # A chunk starts at its leading comments, the definition at its keyword: overlapping lines match.
            same = [d for d in self.graph.file_definitions(hit.repo, hit.path)
                    if d.qualified_name == hit.symbol and d.start_line <= hit.end_line and hit.start_line <= d.end_line]
            add(same[:1], 1)
        return chosen

    def _facts(self, loc: Location) -> SymbolFacts:
        facts = SymbolFacts(loc.qualified_name, loc.kind, loc.repo, loc.path, loc.start_line, loc.end_line)
        facts.signature, facts.doc = self._signature_and_doc(loc)
        if loc.kind in CALLABLE_KINDS:
            for edge in self.graph.callees(loc, max_candidates=1):
                ref = Ref(edge.callee.qualified_name, edge.callee.repo, edge.callee.path, edge.callee.start_line)
                if ref not in facts.calls and len(facts.calls) < MAX_EDGES:
                    facts.calls.append(ref)
        edges, facts.call_sites = self.graph.callers(loc)
        facts.namesakes = len(self.graph.named([loc.name])[loc.name]) - 1
        tests: list[Ref] = []
        callers: list[Ref] = []
        for edge in edges:
            c = edge.caller
            ref = Ref(c.qualified_name, c.repo, c.path, edge.line)
            target = tests if is_test_path(c.path) else callers
            if all(r.name != ref.name for r in target):
                target.append(ref)
        facts.called_by = callers[:MAX_EDGES]
        facts.call_sites = max(0, facts.call_sites - len(tests))
        # A test that uses a class (constructs it, names it in a fixture) uses it without calling its name.
        for repo, path, _kind, line in self.reader.symbols.references(loc.name, self.repos)[:500]:
            if len(tests) >= MAX_EDGES * 2:
                break
            if is_test_path(path):
                user = self.graph.enclosing(repo, path, line)
                ref = Ref(user.qualified_name if user else path, repo, path, line)
                if all(r.name != ref.name for r in tests):
                    tests.append(ref)
        facts.tests = tests[:MAX_EDGES]
        return facts

    def _signature_and_doc(self, loc: Location) -> tuple[str, str]:
        rows = [r for r in self.reader.manifest.chunks_with_symbol_suffix(loc.qualified_name, [loc.repo])
                if r.path == loc.path and loc.start_line <= r.start_line <= loc.end_line]
        if not rows or self.reader.store is None:
            return "", ""
        first = min(rows, key=lambda r: r.start_line)
        hits = self.reader.store.retrieve([first.id])
        if not hits:
            return "", ""
        chunk = hits[0].chunk
        signature = " ".join(chunk.signature.split())
        if len(signature) > 200:
            signature = signature[:197] + "..."
        lines = [""] * (chunk.start_line - 1) + chunk.text.split("\n")
        doc = ""
        if loc.path.endswith((".py", ".pyi")):
            doc = symbol_doc(lines, chunk.start_line, chunk.end_line, loc.path)
        else:  # the comment block the chunk starts with (chunks include their leading comments)
            block = []
            for raw in chunk.text.split("\n"):
                s = raw.strip()
                if s.startswith(("//", "/*", "*", "#")) and not s.startswith(("#include", "#[")):
                    block.append(s.lstrip("/*# ").strip())
                    continue
                break
            doc = first_sentence(" ".join(b for b in block if b and not b.startswith("@")))
        return signature, doc[:240]

    def _add_commits(self, facts: list[SymbolFacts]) -> None:
        """The last commits of each file, one git call per file, run side by side and bounded in time."""
        files = {(f.repo, f.path) for f in facts}
        if not files:
            return
        entries = {r.name: r for r in self.reader.manifest.repos() if any(r.name == repo for repo, _ in files)}
        jobs = {}
        for repo, path in files:
            entry = entries.get(repo)
            root = local_root(self.settings, repo, entry.source) if entry else None
            if root is not None and entry is not None:
                jobs[(repo, path)] = (root, entry.commit)
        if not jobs:
            return
        with ThreadPoolExecutor(max_workers=min(4, len(jobs))) as pool:
            found = dict(zip(jobs, pool.map(lambda item: last_commits(item[1][0], item[1][1], item[0][0],
                                                                      item[0][1]), jobs.items()), strict=True))
        for f in facts:
            f.commits = found.get((f.repo, f.path), [])


def last_commits(root: Path, commit: str | None, repo: str, path: str, n: int = MAX_COMMITS) -> list[CommitFact]:
    """The newest `n` commits that touched `path` at or before the indexed commit; [] without git history."""
    rev = commit if commit and re.fullmatch(r"[0-9a-f]{7,64}", commit) else "HEAD"
    try:
        proc = subprocess.run(["git", "-c", "core.quotepath=off", "log", f"-n{n}", "--no-merges", "--date=short",
                               "--format=%h\x1f%ad\x1f%aN\x1f%s", rev, "--", path], cwd=root, capture_output=True,
                              stdin=subprocess.DEVNULL, timeout=GIT_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if proc.returncode != 0:
        return []
    out = []
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        fields = line.split("\x1f")
        if len(fields) == 4:
            out.append(CommitFact(fields[0], fields[1], fields[2], fields[3][:120], repo, path))
    return out


__all__ = ["CommitFact", "FactsBuilder", "FactsCard", "Ref", "SymbolFacts", "is_test_path", "last_commits"]
