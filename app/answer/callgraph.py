"""Who calls whom, read from the symbol table: the facts card, "how" questions and the relation check share it.

The chunker records definitions (name, qualified name, lines) and references (name, kind, line) per file, not
edges. An edge is derived here: a call reference inside a definition's lines is a call made by the innermost
definition around it, and the called name resolves to the definitions of that short name within the caller's
repositories (the same file first, then the same repository). Names are matched, not types: `self.db.get()`
resolves to every `get`, so callers with several candidates keep them all and say how many there are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from indexer.catalog.symbols import Location
from indexer.reader import IndexReader

CODE_KINDS = {"function", "method", "class", "struct", "interface", "trait", "enum", "impl", "object",
              "constructor", "type", "module_type", "protocol"}
CALLABLE_KINDS = {"function", "method", "constructor"}
TYPE_KINDS = {"class", "struct", "interface", "trait", "enum", "protocol", "object", "type"}
VALUE_KINDS = {"variable", "constant"}
CONSTRUCTOR_NAMES = {"__init__", "constructor"}
# Method names every language's standard containers and strings have: `items.get(k)` or `parts.join()` is far more
# often a dict, list or string than the repository's own `get`, so a call by one of these names is not resolved
# to a method elsewhere (a function of that name in the caller's own file still is).
CONTAINER_METHODS = {"get", "items", "keys", "values", "append", "extend", "update", "pop", "add", "remove",
                     "join", "split", "format", "strip", "replace", "copy", "sort", "index", "count", "clear",
                     "setdefault", "startswith", "endswith", "encode", "decode", "lower", "upper", "read", "write",
                     "close", "open", "then", "map", "filter", "reduce", "push", "forEach", "log", "toString",
                     "set", "has", "delete", "find", "next", "send", "run", "call", "apply", "bind"}
_SELF_CALL = re.compile(r"(?<![\w$.])(?:self|this)\.([A-Za-z_$][\w$]*)\s*\(")
# A method read like a field: Python's `@property`, JavaScript's `get name()` and express's
# `defineGetter(req, 'fresh', function () {...})`. Reading one is reading state, not handing on a callback.
_GETTER = re.compile(r"^\s*(?:@(?:[\w.]+\.)?(?:property|cached_property)\b|(?:static\s+)?get\s+[\w$]+\s*\("
                     r"|[\w$.]+\(\s*[\w$.]+\s*,\s*['\"][\w$]+['\"]\s*,\s*function\b)", re.M)
_ABSTRACT = re.compile(r"raise\s+NotImplementedError|@(?:abc\.)?abstractmethod\b")
_FAMILIES = {"py": "py", "pyi": "py", "js": "js", "jsx": "js", "mjs": "js", "cjs": "js", "ts": "js", "tsx": "js",
             "c": "c", "h": "c", "cc": "c", "cpp": "c", "hpp": "c", "cxx": "c", "kt": "jvm", "kts": "jvm",
             "java": "jvm", "scala": "jvm"}


def family(path: str) -> str:
    """Files whose code can call each other's definitions by name (a Python call never lands in TypeScript)."""
    ext = path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
    return _FAMILIES.get(ext, ext)


@dataclass(frozen=True)
class Edge:
    """`caller` calls a name at `line` of its file; `callee` is one definition that name resolves to."""

    caller: Location
    callee: Location
    line: int


class CallGraph:
    """Call edges within `repos` (None = all; [] = nothing), with per-file caches for one question."""

    def __init__(self, reader: IndexReader, repos: list[str] | None):
        self.reader = reader
        self.symbols = reader.symbols
        self.repos = repos
        self._files: dict[tuple[str, str], list[Location]] = {}
        self._named: dict[str, list[Location]] = {}
        self._imports: dict[tuple[str, str], list[tuple[str, int]]] = {}
        self._calls: dict[Location, list[tuple[str, int]]] = {}
        self._getters: dict[Location, bool] = {}
        self._abstract: dict[Location, bool] = {}
        self._code: dict[Location, str] = {}

    def allowed(self, repo: str) -> bool:
        return self.repos is None or repo in self.repos

    def file_definitions(self, repo: str, path: str) -> list[Location]:
        key = (repo, path)
        if key not in self._files:
            self._files[key] = self.symbols.file_definitions(repo, path) if self.allowed(repo) else []
        return self._files[key]

    def import_lines(self, repo: str, path: str) -> list[tuple[str, int]]:
        """(name, line) of what the file imports: a Python module or imported name, a JavaScript module path."""
        key = (repo, path)
        if key not in self._imports:
            self._imports[key] = [(n, line) for n, _k, line in self.symbols.references_in(
                repo, path, 1, 1 << 30, ["import"])] if self.allowed(repo) else []
        return self._imports[key]

    def enclosing(self, repo: str, path: str, line: int) -> Location | None:
        """The innermost code definition whose lines hold `line` (None at module level)."""
        inner = None
        for d in self.file_definitions(repo, path):
            if d.kind in CODE_KINDS and d.start_line <= line <= d.end_line and (
                    inner is None or d.end_line - d.start_line <= inner.end_line - inner.start_line):
                inner = d
        return inner

    def named(self, names: Iterable[str]) -> dict[str, list[Location]]:
        """Definitions (code kinds only) by short name, looked up in one query for the names not seen yet."""
        wanted = [n for n in dict.fromkeys(names) if n not in self._named]
        if wanted:
            for n in wanted:
                self._named[n] = []
            for d in self.symbols.definitions_named(wanted, self.repos):
                if d.kind in CODE_KINDS:
                    self._named[d.name].append(d)
        return {n: self._named.get(n, []) for n in names}

    def code(self, loc: Location) -> str:
        """The indexed text of a definition (its parts joined), "" when the store has none."""
        if not self.allowed(loc.repo) or self.reader.store is None:
            return ""
        if loc not in self._code:
            self._code[loc] = self._read_code(loc)
        return self._code[loc]

    def _read_code(self, loc: Location) -> str:
        # a part overlapping the definition's lines: the first one starts early when it carries the leading
        # comment (`/** doc */` right above `defineGetter(...)`), which the definition's lines leave out
        rows = [r for r in self.reader.manifest.symbol_parts(loc.repo, loc.path, loc.qualified_name, loc.kind)
                if r[1] <= loc.end_line and loc.start_line <= r[2]]
        texts = {h.id: h.chunk.text for h in self.reader.store.retrieve([r[0] for r in rows])}
        return "\n".join(texts.get(r[0], "") for r in rows)

    def is_getter(self, loc: Location) -> bool:
        """Whether `loc` is a method read like a field (a property or getter), from its first lines."""
        if loc not in self._getters:
            head = "\n".join(self.code(loc).split("\n")[:4]) if loc.kind in CALLABLE_KINDS else ""
            self._getters[loc] = bool(_GETTER.search(head))
        return self._getters[loc]

    def is_abstract(self, loc: Location) -> bool:
        """Whether a method only declares itself: it raises NotImplementedError or is marked abstract."""
        if loc not in self._abstract:
            self._abstract[loc] = bool(_ABSTRACT.search(self.code(loc)))
        return self._abstract[loc]

    def overrides(self, loc: Location) -> list[Location]:
        """The methods of `loc`'s name in the classes whose header names `loc`'s class (its direct subclasses),
        within its repository."""
        owner = loc.qualified_name.rpartition(".")[0].rpartition(".")[2]
        found = []
        for d in self.named([loc.name])[loc.name]:
            if d == loc or d.kind != "method" or d.repo != loc.repo:
                continue
            holder = d.qualified_name.rpartition(".")[0]
            cls = next((c for c in self.file_definitions(d.repo, d.path)
                        if c.qualified_name == holder and c.kind == "class"), None)
            if cls is not None and owner in self.base_names(cls):
                found.append(d)
        return found

    def getters(self, name: str) -> list[Location]:
        """The definitions of `name` when every one of them (at most three) is a getter; else none."""
        found = self.named([name])[name]
        return found if 0 < len(found) <= 3 and all(self.is_getter(d) for d in found) else []

    def defined_values(self, names: Iterable[str]) -> set[str]:
        """Which of `names` the repositories define as a module-level constant or variable."""
        wanted = list(dict.fromkeys(names))
        if not wanted:
            return set()
        return {d.name for d in self.symbols.definitions_named(wanted, self.repos) if d.kind in VALUE_KINDS}

    def find(self, name: str) -> list[Location]:
        """Definitions of `name`: a short name (`pay`) or a dotted one (`OrderService.pay`, a suffix of the
        qualified name)."""
        parts = [p for p in name.replace("::", ".").replace("#", ".").split(".") if p]
        if not parts:
            return []
        found = self.named([parts[-1]])[parts[-1]]
        if len(parts) > 1:
            suffix = "." + ".".join(parts)
            found = [d for d in found if ("." + d.qualified_name).endswith(suffix)]
        return found

    def resolve(self, name: str, near: Location, *, on_self: bool = False) -> list[Location]:
        """What a name called from inside `near` may be: the same file's definition, else the same
        repository's, else any within scope. `on_self`: the code calls it as `self.name(...)`/`this.name(...)`,
        so a method of `near`'s own class is it, even by a container's name (httpx's `Client.request` calls
        `self.send`)."""
        candidates = [d for d in self.named([name])[name] if d != near and family(d.path) == family(near.path)]
        if on_self and near.kind == "method":
            owner = near.qualified_name.rpartition(".")[0]
            own = [d for d in candidates if d.kind == "method" and d.qualified_name == f"{owner}.{name}"
                   and (d.repo, d.path) == (near.repo, near.path)]
            if own:
                # an abstract method runs as a subclass's: click's `BaseCommand.main` calls `self.parse_args`,
                # which raises NotImplementedError; `Command.parse_args` is where arguments are parsed
                return (self.overrides(own[0]) if self.is_abstract(own[0]) else []) or own
        if name in CONTAINER_METHODS:
            candidates = [d for d in candidates if (d.repo, d.path) == (near.repo, near.path) and d.kind != "method"]
        for narrow in ([d for d in candidates if (d.repo, d.path) == (near.repo, near.path)],
                       [d for d in candidates if d.repo == near.repo]):
            if narrow:
                return narrow
        return candidates

    def calls(self, loc: Location) -> list[tuple[str, int]]:
        """(name, first line) of each distinct name called inside `loc`, in line order; for a class, the
        calls its own body makes outside its methods are included with theirs. The calls on a function's header
        (a decorator, `@app.route('/')`, or the call that defines it, `defineGetter(req, 'ip', function ip()
        {`) run when the code is loaded, not when it is called, and are left out."""
        if not self.allowed(loc.repo):
            return []
        if loc not in self._calls:  # the reading map asks again for each cut of a long source, and for its imports
            refs = self.symbols.references_in(loc.repo, loc.path, loc.start_line, loc.end_line, ["call"])
            header: tuple[set[str], int] = (set(), 0)
            if loc.kind in CALLABLE_KINDS and any(line == loc.start_line for _n, _k, line in refs):
                header = _header_calls(self.code(loc))
            seen: dict[str, int] = {}
            for name, _kind, line in refs:
                if not (name in header[0] and line < loc.start_line + header[1]):
                    seen.setdefault(name, line)
            self._calls[loc] = list(seen.items())
        return self._calls[loc]

    def callees(self, loc: Location, *, max_candidates: int = 3, code: str = "") -> list[Edge]:
        """Edges from `loc` to the definitions its calls resolve to (names with more than `max_candidates`
        definitions are left out: `get` or `run` name too many things to be a fact). `code`: the definition's
        text, when the caller has it; the symbol table records a call's name, not what it is called on, and the
        text tells `self.send(...)` from `response.send(...)`."""
        edges = []
        calls = self.calls(loc)
        self.named([n for n, _ in calls])
        on_self = set(_SELF_CALL.findall(code)) if code else set()
        owner = loc.qualified_name.rpartition(".")[0] if loc.kind == "method" else ""
        for name, line in calls:
            targets = self.resolve(name, loc, on_self=name in on_self)
            if code and owner and name not in on_self:
                # the own class's method is called through `self`/`this`; `response.aclose()` inside
                # `AsyncClient._send_handling_auth` is the response's, not `AsyncClient.aclose`
                targets = [t for t in targets if not (t.kind == "method" and (t.repo, t.path) == (loc.repo, loc.path)
                                                      and t.qualified_name == f"{owner}.{name}")]
            if 0 < len(targets) <= max_candidates:
                edges += [Edge(loc, t, line) for t in targets]
        return edges

    def callers(self, loc: Location, *, limit: int = 200, resolved: bool = False) -> tuple[list[Edge], int]:
        """Edges into `loc` from the definitions that call its name (at most `limit` call sites read) and the
        number of call sites in all. A constructor is called through its class (`PaymentGateway(...)` runs
        `PaymentGateway.__init__`); by its own name, every `super().__init__(...)` in the repositories would be
        its caller. `resolved`: only callers whose call `callees` resolves to `loc` (a flow states "A calls B";
        `sub_ctx.command.invoke()` in click's core.py is one of its own file's four `invoke`s, not
        `CliRunner.invoke`)."""
        name = loc.name
        if loc.kind in CALLABLE_KINDS and name in CONSTRUCTOR_NAMES and loc.qualified_name.count("."):
            name = loc.qualified_name.split(".")[-2]
        sites = [r for r in self.symbols.references(name, self.repos) if r[2] == "call"]
        edges = []
        for repo, path, _kind, line in sites[:limit]:
            caller = self.enclosing(repo, path, line)
            if caller is None or caller == loc:
                continue
            if resolved and name == loc.name:  # the caller's calls resolved as `callees` resolves them
                keep = loc in {e.callee for e in self.callees(caller, code=self.code(caller))}
            else:  # by name, but a call on `self` that is the caller's own class's method is not one
                keep = not self._calls_own(caller, loc)
            if keep:
                edges.append(Edge(caller, loc, line))
        return edges, len(sites)

    def _calls_own(self, caller: Location, loc: Location) -> bool:
        """Whether `caller` calls `loc`'s name only on `self`/`this` and that resolves to another method than
        `loc` (its own class's): click's `BaseCommand.main` calls `self.invoke`, not `CliRunner.invoke`."""
        if loc.kind != "method" or caller.kind != "method" or \
                caller.qualified_name.rpartition(".")[0] == loc.qualified_name.rpartition(".")[0]:
            return False
        code = self.code(caller)
        if loc.name not in _SELF_CALL.findall(code) or re.search(
                rf"(?<![\w$])(?<!self\.)(?<!this\.){re.escape(loc.name)}\s*\(", code):
            return False
        return loc not in self.resolve(loc.name, caller, on_self=True)

    def header_names(self, loc: Location) -> set[str]:
        """Names referenced on a class's header lines (its superclasses, `extends`/`implements`), i.e. before
        its first member."""
        members = [d.start_line for d in self.file_definitions(loc.repo, loc.path)
                   if loc.start_line < d.start_line <= loc.end_line]
        end = min([*members, loc.start_line + 8, loc.end_line + 1]) - 1
        return {name for name, _kind, _line in self.symbols.references_in(loc.repo, loc.path, loc.start_line,
                                                                          max(end, loc.start_line))}

    def base_names(self, cls: Location) -> set[str]:
        """The names on a class's header proper (`class URLSafeTimedSerializer(URLSafeSerializerMixin,
        TimedSerializer[str]):`, `class Koa extends Emitter {`): its bases. `header_names` reads up to the first
        member, which takes in class attributes (`default_signer = TimestampSigner` is no base)."""
        names = self.header_names(cls) - {cls.name}
        code = self.code(cls)
        m = re.search(rf"\b(?:class|struct|interface|trait|object)\s+{re.escape(cls.name)}\b", code)
        if m is None:
            return names
        header = _header(code[m.end():], python=family(cls.path) == "py")
        return names & set(re.findall(r"[A-Za-z_$][\w$]*", header))

    def bases(self, cls: Location) -> list[Location]:
        """The classes `cls`'s header names as its bases that the repositories define, in its own language
        family; the same repository's first when a name has several."""
        out: list[Location] = []
        for name in sorted(self.base_names(cls)):
            found = [d for d in self.named([name])[name]
                     if d.kind in TYPE_KINDS and d != cls and family(d.path) == family(cls.path)]
            out += [d for d in found if d.repo == cls.repo] or found
        return out

    def imports(self, repo: str, path: str) -> list[str]:
        """Names a file imports (as the chunker recorded them: dotted modules and imported names)."""
        if not self.allowed(repo):
            return []
        return [name for name, _k, _l in self.symbols.references_in(repo, path, 1, 10**9, ["import"])]


def _header(rest: str, *, python: bool) -> str:
    """A class header's text after its name, up to what opens its body outside brackets (`Generic[T]`,
    `(Base, metaclass=Meta)` may span lines): Python's `:` or the line's end; elsewhere `{` (`class A : B() {`
    in Kotlin, `class A: B {` in Swift put bases after a colon), else all of it (`header_names` bounds it)."""
    depth = 0
    for i, ch in enumerate(rest):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(0, depth - 1)
        elif depth == 0 and (ch == "{" or (python and ch in ":\n")):
            return rest[:i]
    return rest


_HEADER_CALL = re.compile(r"([A-Za-z_$][\w$]*)\s*\(")
_DEFINES = re.compile(r"^(?:async\s+)?def\s|\bfunction\b")


def _header_calls(code: str) -> tuple[set[str], int]:
    """The names called on a definition's header lines (decorators, a defining call) and how many lines the
    header spans from the definition's first line; the code's leading comments are not part of it."""
    lines = code.split("\n")
    i = 0
    while i < len(lines) and (not lines[i].strip() or lines[i].lstrip().startswith(("#", "//", "/*", "*"))):
        i += 1
    names: set[str] = set()
    for j, line in enumerate(lines[i:i + 12]):
        stripped = line.strip()
        if m := _DEFINES.search(stripped):
            # `defineGetter(req, 'ip', function ip() {`: the call before `function` is the defining one
            names.update(_HEADER_CALL.findall(stripped[:m.start()]))
            return (names, j + 1) if names else (set(), 0)
        names.update(_HEADER_CALL.findall(stripped))
        if not names and not stripped.startswith("@"):
            return set(), 0
    return set(), 0

