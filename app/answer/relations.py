"""Relations an answer claims between real names, checked against the symbol table.

A small model uses real names in false relations ("`TestRequests` is a subclass of `requests.Session`", seen on a
real repository): every name is in the index, so the name check passes, and the sentence teaches the reader
something false. The relations the index records are checked here:

- "A calls B", "A invokes B", "B is called by A": a call of B's name inside A's lines;
- "A is a subclass of B", "A inherits from / extends / derives from B": B named on A's class header, or on the
  header of a class A's header names (three levels);
- "A is defined / implemented / declared / located in F", "A lives in F", "the A method / function / class in F":
  a definition of A in a file whose path is F or ends with /F;
- "A imports B", "B is imported by A": an import of B in A's file (A a file, a module or a name defined in one).

A claim is only judged when its subject is defined within the user's repositories; one the index cannot judge is
left alone (an invented name is the name check's business). A false claim is marked like an invented name and its
sentence cites nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from app.answer.callgraph import TYPE_KINDS, CallGraph
from indexer.catalog.symbols import Location
from indexer.reader import IndexReader

_NAME = r"`?(?P<{g}>[A-Za-z_$][\w$]*(?:(?:\.|::|#)[A-Za-z_$][\w$]*)*)(?:\(\))?`?"
_PATH = r"`?(?P<{g}>(?:[\w.-]+/)*[\w-][\w.-]*\.[A-Za-z0-9]{{1,5}})`?"
_KIND = r"(?:\s+(?:method|function|class|module|file|constructor|helper))?"
_THE = r"(?:(?:the|a|an)\s+)?(?:(?:method|function|class|module|file|constructor)\s+)?"
_RELATIONS = [
    ("calls", "forward", rf"{_NAME.format(g='a')}{_KIND}\s+(?:also\s+|then\s+|directly\s+)?"
                         rf"(?:calls|invokes|calls\s+into)\s+{_THE}{_NAME.format(g='b')}"),
    ("calls", "backward", rf"{_NAME.format(g='b')}{_KIND}\s+is\s+(?:called|invoked)\s+(?:only\s+)?by\s+{_THE}"
                          rf"{_NAME.format(g='a')}"),
    ("subclass", "forward", rf"{_NAME.format(g='a')}{_KIND}\s+(?:is\s+a\s+subclass\s+of|subclasses|inherits\s+from"
                            rf"|extends|derives\s+from|is\s+derived\s+from)\s+{_THE}{_NAME.format(g='b')}"),
    ("defined_in", "forward", rf"{_NAME.format(g='a')}{_KIND}\s+(?:is\s+(?:defined|implemented|declared|located)"
                              rf"|lives)\s+in\s+{_THE}{_PATH.format(g='b')}"),
    # "the `load_payload` method in `timed.py`": a 0.5B wrote this of a method timed.py only calls
    ("defined_in", "placed", rf"{_NAME.format(g='a')}\s+(?:method|function|class|constructor|helper)\s+"
                             rf"(?:in|of)\s+{_THE}{_PATH.format(g='b')}"),
    ("imports", "forward", rf"(?:{_PATH.format(g='pa')}|{_NAME.format(g='a')}){_KIND}\s+imports\s+{_THE}"
                           rf"{_NAME.format(g='b')}"),
    ("imports", "backward", rf"{_NAME.format(g='b')}{_KIND}\s+is\s+imported\s+(?:only\s+)?by\s+{_THE}"
                            rf"(?:{_PATH.format(g='pa')}|{_NAME.format(g='a')})"),
]
_PATTERNS = [(rel, re.compile(p)) for rel, _direction, p in _RELATIONS]
_PROSE = {"it", "this", "that", "which", "then", "also", "function", "method", "class", "module", "file", "the"}


@dataclass(frozen=True)
class Claim:
    """A relation stated in the answer: `subject` `relation` `target`, at raw[start:end]."""

    relation: str  # calls, subclass, defined_in, imports
    subject: str
    target: str
    start: int
    end: int

    @property
    def text(self) -> str:
        verb = {"calls": "calls", "subclass": "is a subclass of", "defined_in": "is defined in",
                "imports": "imports"}[self.relation]
        return f"{self.subject} {verb} {self.target}"


def _code_like(raw: str, m: re.Match, group: str) -> bool:
    """A name written like code: in backticks, dotted, snake_case, camelCase, CapWords or called()."""
    name = m.group(group)
    if name is None or name.lower() in _PROSE:
        return False
    start, end = m.span(group)
    ticked = raw[max(0, start - 1):start] == "`"
    return (ticked or "." in name or "_" in name.strip("_") or bool(re.search(r"[a-z][A-Z]", name))
            or raw[end:end + 2] == "()" or (name[:1].isupper() and any(c.islower() for c in name)))


def find_claims(raw: str, skip: list[tuple[int, int]] = ()) -> list[Claim]:
    """The relations the answer states in its prose (fenced code and `skip` spans are left out)."""
    claims: list[Claim] = []
    for relation, pattern in _PATTERNS:
        for m in pattern.finditer(raw):
            if any(m.start() < e and s < m.end() for s, e in skip):
                continue
            groups = m.groupdict()
            subject_group = "pa" if groups.get("pa") else "a"
            if subject_group == "a" and not _code_like(raw, m, "a"):
                continue
            if relation != "defined_in" and not _code_like(raw, m, "b"):
                continue
            end = m.end()
            claims.append(Claim(relation, groups[subject_group], groups["b"], m.start(), end))
    claims.sort(key=lambda c: c.start)
    return [c for i, c in enumerate(claims) if not any(o.start <= c.start and c.end <= o.end and o != c
                                                       for o in claims[:i] + claims[i + 1:])]


class RelationChecker:
    """Judges claims against the symbol table within `repos`: True, False, or None (the index cannot tell)."""

    def __init__(self, reader: IndexReader, repos: list[str] | None, rewrites: dict[str, str] | None = None):
        self.graph = CallGraph(reader, repos)
        self.reader = reader
        self.repos = repos
        # a path the answer wrote for a source's file (`res.js` for lib/response.js): judged as that file
        self.rewrites = rewrites or {}

    def check(self, claim: Claim) -> tuple[bool | None, str]:
        """(verdict, reason); the reason says what the index shows instead, with locations."""
        method = getattr(self, "_" + claim.relation)
        return method(claim.subject, claim.target)

    def _calls(self, a: str, b: str) -> tuple[bool | None, str]:
        callers = self.graph.find(a)
        if not callers:
            return None, ""
        called = _last(b)
        for loc in callers:
            if any(name == called for name, _line in self.graph.calls(loc)):
                return True, ""
        where = ", ".join(_at(loc) for loc in callers[:2])
        return False, f"the index has no call of {called} inside {a} ({where})"

    def _subclass(self, a: str, b: str) -> tuple[bool | None, str]:
        classes = [d for d in self.graph.find(a) if d.kind in TYPE_KINDS]
        if not classes:
            return None, ""
        wanted = _last(b)
        seen: set[Location] = set()
        frontier = classes
        for _level in range(3):
            bases: list[Location] = []
            for cls in frontier:
                if cls in seen:
                    continue
                seen.add(cls)
                names = self.graph.base_names(cls)
                if wanted in names:
                    return True, ""
                bases += self.graph.bases(cls)
            frontier = bases
        shown = sorted(self.graph.base_names(classes[0]))
        bases_text = f"its header names {', '.join(shown)}" if shown else "its header names no base class"
        return False, f"{a} ({_at(classes[0])}) is not a subclass of {wanted} in the index: {bases_text}"

    def _defined_in(self, a: str, path: str) -> tuple[bool | None, str]:
        defs = self.graph.find(a)
        if not defs:
            return None, ""
        path = path.rpartition(":")[2].lstrip("./")
        path = self.rewrites.get(path, path)
        if any(d.path == path or d.path.endswith("/" + path) for d in defs):
            return True, ""
        if not self._files_of(path):
            return None, ""  # a file the index does not hold: the name check flags the path itself, once
        return False, f"{a} is defined in {', '.join(_at(d) for d in defs[:2])}"

    def _imports(self, a: str, b: str) -> tuple[bool | None, str]:
        files = self._files_of(a)
        if not files:
            return None, ""
        wanted, last = b.replace("::", "."), _last(b)
        for repo, path in files:
            for name in self.graph.imports(repo, path):
                if name in (wanted, last) or name.endswith("." + last) or wanted.endswith("." + name) or (
                        name.split(".")[-1] == last):
                    return True, ""
        return False, f"{', '.join(f'{r}:{p}' for r, p in files[:2])} does not import {b} in the index"

    def _files_of(self, a: str) -> list[tuple[str, str]]:
        """The files a subject names: a path, a dotted module (`api.orders`), or the file of a definition."""
        manifest = self.reader.manifest
        repos = [r.name for r in manifest.repos() if self.repos is None or r.name in self.repos]
        if "/" in a or re.search(r"\.[a-z]{1,5}$", a) and not self.graph.find(a):
            path = a.lstrip("./")
            return [(r, p) for r in repos for p in manifest.files(r) if p == path or p.endswith("/" + path)]
        defs = self.graph.find(a)
        if defs:
            return list(dict.fromkeys((d.repo, d.path) for d in defs))
        module = a.replace(".", "/")
        return [(r, p) for r in repos for p in manifest.files(r)
                if p.rsplit(".", 1)[0] in (module, module + "/__init__") or p.rsplit(".", 1)[0].endswith("/" + module)]


def false_claims(raw: str, reader: IndexReader, repos: list[str] | None, skip: list[tuple[int, int]] = (),
                 rewrites: dict[str, str] | None = None) -> Iterator[tuple[Claim, str]]:
    """Each claim the index shows to be false, with the reason."""
    checker = RelationChecker(reader, repos, rewrites)
    for claim in find_claims(raw, skip):
        verdict, reason = checker.check(claim)
        if verdict is False:
            yield claim, reason


def _last(name: str) -> str:
    return re.split(r"\.|::|#", name.removesuffix("()"))[-1]


def _at(loc: Location) -> str:
    return f"{loc.repo}:{loc.path}:{loc.start_line}"
