"""The reading map under an answer: each code source the answer drew on, with the functions it calls.

Measured on the answer eval's dev split (40 questions, 2026-12-03): the prompt's sources hold 0.82 of the key
symbols a good answer names, their names alone 0.35, and the 1.5B model's prose about 0.24. A small model writes
about the entry point and drops the steps that live one call further (`derive_key`, `get_signature`). The symbol
table knows those calls, so they are read from it, not generated: the sources' names plus their calls hold 0.48.

The map goes to two places. In the prompt of a "how" question, each source's header names what it calls, so
the model can follow the flow it is asked to explain. Under the answer, a short list ("Steps in the code" for a
"how" question, in the flow's order; "Where to read" otherwise) names each source with its citation, a class's
methods, its calls, what it raises and catches, the fields and constants it sets and reads (`self.secret_keys`)
and what it calls from outside the index (`fresh`, `koa-compose`, `hmac.compare_digest`), so a new hire can walk
the code even when the prose is thin. Every name in it is read from the index or the source's own lines
(definitions and imports within the user's repositories), none is generated. On the dev split the raises, methods
and imported helpers took the map alone from 0.47 to 0.57 of the key symbols, a "where" or "what for" answer's
next two search hits to 0.62, fields and constants to 0.70, and with calls on `self`, module calls, catches,
constructor fields and a "how" answer's next hits, 0.80 (the sources' code holds 0.82), and with a "how" flow's
entry caller and its chain past the sources (app/answer/flow.py, `follow_on`), 0.84 (2026-12-04,
docs/answering.md).
"""

from __future__ import annotations

import re
from dataclasses import replace

from app.answer.callgraph import CODE_KINDS, CONTAINER_METHODS, VALUE_KINDS, CallGraph
from app.answer.results import Answer, Source
from app.search.roles import path_role
from indexer.catalog.symbols import Location

MAX_CALLS = 6  # calls named per source: a class body calls many things, and the list must stay readable
MAX_RAISES = 4  # exceptions named per source, apart from its calls (a failure path is what a "how" answer skips)
MAX_MEMBERS = 8  # methods named for a class source
MAX_USES = 4  # imported functions from outside the index that the source calls (`fresh`, `compose`)
MAX_STATE = 5  # fields and module constants named per source (`self.secret_keys`, `DEFAULT_TIMEOUT_CONFIG`)
MAX_USERS = 4  # definitions named as using a symbol the question asks about
MAX_LINES = 6  # sources in the map under the answer
# Search hits after the prompt's, listed (never read by the model) under a "where" or "what for" answer: the
# search's next places cost no model time.
MAP_EXTRA = 2
HOW_HEADING = "Steps in the code (in the order they run, from the index):"
WHERE_HEADING = "Where to read (from the index):"
FURTHER_HEADING = "Before and after these steps (their callers and calls, followed in the index):"
RELATED_HEADING = "Also related (search hits outside the flow):"
HEADINGS = (HOW_HEADING, WHERE_HEADING)
# Calls by these names are language plumbing, not steps, even where a repository defines something of that name.
NOT_STEPS = {"super", "__init__", "constructor", "new", "init", "isinstance", "len", "str", "repr"}


def _definition(graph: CallGraph, source: Source) -> Location | None:
    """The definition a source excerpt shows: the longest one of its name that starts within its lines, else the
    one around it. Longest, because Python's `@overload` stubs come first and call nothing: itsdangerous's
    `TimestampSigner.unsign` excerpt starts with two of them, and its calls are in the third definition."""
    name = source.short_name.split(".")[-1]
    inside = [d for d in graph.file_definitions(source.repo, source.path)
              if d.kind in CODE_KINDS and d.name == name and source.start_line <= d.start_line <= source.end_line]
    if inside:
        return max(inside, key=lambda d: (d.end_line - d.start_line, -d.start_line))
    return graph.enclosing(source.repo, source.path, source.start_line)


def describe(graph: CallGraph, source: Source) -> None:
    """Fill the source's `calls`, `raises` and (for a class) `members` from the symbol table.

    Calls and raises are the index's definitions that the source's lines call, in the order they call them; one
    raised or thrown on its line is a raise, not a step (its own short list, so a long body's calls do not crowd
    out `SignatureExpired`). A method is named `Class.method` when the call resolves to one definition (the 0.5B
    model read a bare `reserve_stock` in `OrderService`'s header as `OrderService.reserve_stock`), else by its
    short name. A name with more than three definitions in scope (`get`, `run`) is not listed: which one runs
    is a guess.
    """
    source.calls, source.raises, source.members, source.uses, source.state = [], [], [], [], []
    source.catches = []
    if not source.short_name:
        return
    loc = _definition(graph, source)
    if loc is None:
        return
    # Names are matched, not types: in itsdangerous, `self.signer(...)` in `Serializer.make_signer` (an attribute)
    # resolved to the only `signer` definition, a test's. Code outside the tests does not call into them.
    testing = path_role(source.path) == "test"
    lines = source.text.split("\n")
    targets: dict[str, list[Location]] = {}
    raised: set[str] = set()
    for edge in graph.callees(loc, code=source.text):
        name = edge.callee.name
        if name != loc.name and name not in NOT_STEPS and source.start_line <= edge.line <= source.end_line and (
                testing or path_role(edge.callee.path) != "test"):
            targets.setdefault(name, []).append(edge.callee)
            i = edge.line - source.start_line
            # the name right after `raise` / `throw [new]` (a module prefix allowed), not one inside its arguments
            if i < len(lines) and re.search(rf"\b(?:raise|throw)\s+(?:new\s+)?(?:[\w$]+\.)*{re.escape(name)}(?![\w$])",
                                            lines[i]):
                raised.add(name)
    for name, found in targets.items():
        one = found[0] if len(found) == 1 else None
        parts = one.qualified_name.split(".") if one is not None and one.kind == "method" else []
        shown = ".".join(parts[-2:]) if len(parts) > 1 else name
        (source.raises if name in raised else source.calls).append(shown)
    source.calls, source.raises = source.calls[:MAX_CALLS], source.raises[:MAX_RAISES]
    source.uses = _imported_calls(graph, loc, source, set(targets))[:MAX_USES]
    if loc.kind == "class":
        prefix = loc.qualified_name + "."
        members = [d.name for d in graph.file_definitions(source.repo, source.path)
                   if d.kind == "method" and d.qualified_name.startswith(prefix)
                   and "." not in d.qualified_name[len(prefix):] and not d.name.startswith("_")]
        source.members = list(dict.fromkeys(members))[:MAX_MEMBERS]  # an overloaded method once
    source.state = _state(graph, loc, source)
    if loc.kind == "class" and len(source.state) < MAX_STATE:
        # a class's chunk shows its methods' signatures, not their bodies; what its constructor sets is what an
        # instance holds (`self.case_sensitive`)
        init = next((d for d in graph.file_definitions(source.repo, source.path) if d.name in _CONSTRUCTORS
                     and d.qualified_name == f"{loc.qualified_name}.{d.name}"), None)
        if init is not None and (code := graph.code(init)):
            head = replace(source, start_line=init.start_line, end_line=init.end_line, text=code)
            source.state += [f for f in _state(graph, init, head, sets_only=True) if f not in source.state]
    source.state = source.state[:MAX_STATE]
    lines = source.text.split("\n")[max(0, loc.start_line - source.start_line):loc.end_line - source.start_line + 1]
    caught = [name.rsplit(".", 1)[-1] for line in lines for group in _CATCH.findall(line)
              for name in re.split(r"[\s,|()]+", " ".join(group)) if name and name not in _NOT_CAUGHT]
    source.catches = [c for c in dict.fromkeys(caught) if c not in source.raises][:MAX_RAISES]


# The object a method's code reads its fields through; Go's receivers are named per type and are left out.
_RECEIVERS = {"python": r"(?:self|cls)", "rust": "self", "ruby": "self"}
_CONSTANT = re.compile(r"(?<![\w$.])[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+(?![\w$])")
_CLASS_FIELD = re.compile(r"^(\s+)([A-Za-z_]\w*)\s*(?::[^=\n]+)?=(?!=)")
_COMMENT = ("#", "//", "*", "/*")
_CONSTRUCTORS = ("__init__", "constructor", "new")
# `except (BadSignature, BadPayload) as e:`, `catch (IOException | TimeoutException e)`: the failures a piece of
# code survives (a JavaScript `catch (err)` names no type)
_CATCH = re.compile(r"^\s*(?:except\*?\s+\(?([\w., ]+?)\)?\s*(?:as\s+\w+\s*)?:"
                    r"|}?\s*catch\s*\(\s*([\w.| ]+?)\s+\w+\s*\))")
_NOT_CAUGHT = {"as", "Exception", "BaseException", "Throwable"}  # "catches Exception" says nothing
_MEMBER_READ = re.compile(r"(?<![\w$.])([a-z_$][\w$]*)\.([A-Za-z_$][\w$]*)(?![\w$]|\s*\(|\s*=[^=])")
_ASSIGNED = re.compile(r"\s*(?:[-+*/%|&^]|\*\*|//|\?\?|\|\||&&)?=(?!=)")


def _state(graph: CallGraph, loc: Location, source: Source, *, sets_only: bool = False) -> list[str]:
    """The fields and module constants the source's code sets or reads: what it sets first (its effect), then
    what it reads, then the fields it calls methods on, each group in the order the code first does it.

    Behaviour often hangs on state, not on a call: itsdangerous tries `self.secret_keys` newest first, koa trusts
    `this.app.proxyIpHeader`, httpx falls back to `DEFAULT_TIMEOUT_CONFIG`. A field is an attribute of the
    object (`self.x`, `this.app.x`) that is not called (a call is a step, listed apart) and is not one of the
    class's methods; for a class, the names its body assigns (`default_serializer = json`). A constant is an
    upper-case name that the repositories define at module level. All are read from the source's own lines."""
    receiver = _RECEIVERS.get(source.language, "this")
    field_ref = re.compile(rf"(?<![\w$.])({receiver})((?:\.[A-Za-z_$][\w$]*){{1,2}})(\s*\()?")
    methods: dict[str, list[Location]] = {}  # a name defined twice is a getter and setter pair: reading it reads state
    for d in graph.file_definitions(source.repo, source.path):
        if d.kind in ("method", "function"):
            methods.setdefault(d.name, []).append(d)
    lines = source.text.split("\n")[max(0, loc.start_line - source.start_line):loc.end_line - source.start_line + 1]
    found: list[tuple[int, str]] = []  # (0 set, 1 read, 2 an object a call is made on; the name)
    graph.named({m.group(2) for line in lines for m in _MEMBER_READ.finditer(line)})  # one lookup, not one a name
    constants: list[str] = []
    body_indent = None
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith(_COMMENT):
            continue
        if loc.kind == "class" and i > 0:
            indent = len(line) - len(line.lstrip())
            body_indent = indent if body_indent is None else body_indent
            m = _CLASS_FIELD.match(line)
            if m and len(m.group(1)) == body_indent and not m.group(2).startswith("__"):
                found.append((0, m.group(2)))
        for m in field_ref.finditer(line):
            parts = m.group(2).lstrip(".").split(".")
            if parts[0].startswith("__"):
                continue
            if m.group(3):
                # `self.signer.sign(...)`: the call is a step, listed apart when it is the index's; a method of
                # something outside it is named on its field (`this.ctxStorage.getStore()`)
                if len(parts) == 2 and parts[0] not in methods:
                    outside = not graph.named([parts[1]])[parts[1]] and parts[1] not in CONTAINER_METHODS
                    found.append((2, f"{m.group(1)}.{parts[0]}" + (f".{parts[1]}()" if outside else "")))
                continue
            assigned = bool(_ASSIGNED.match(line, m.end()))
            # a method's name read without a call is a callback handed on, not state; assigned, defined twice
            # (`get querystring()` and `set querystring(str)`) or dereferenced (`this.socket.remoteAddress`,
            # `this.ips[0]`), it is an accessor
            one = methods.get(parts[0], [])
            # a getter (`@property def is_success`) is read like a field too
            if (assigned or len(one) != 1 or len(parts) > 1 or line[m.end():m.end() + 1] == "["
                    or graph.is_getter(one[0])):
                found.append((0 if assigned else 1, ".".join([m.group(1), *parts])))
        # a getter the index defines, read on another object: res.send's `req.fresh` decides the 304
        for m in _MEMBER_READ.finditer(line):
            if m.group(1) not in ("self", "cls", "this") and graph.getters(m.group(2)):  # those are read above
                found.append((1, f"{m.group(1)}.{m.group(2)}"))
        constants += [c for c in _CONSTANT.findall(line) if c not in constants]
    defined = graph.defined_values(constants)
    names = list(dict.fromkeys(name for rank, name in sorted(found, key=lambda f: f[0]) if rank == 0 or not sets_only))
    if sets_only:
        return names
    # `this.ctxStorage` says less than `this.ctxStorage.getStore()` beside it, `this.app` less than `this.app.proxy`
    ordered = [n for n in names if not any(o.startswith(n + ".") or o == n + "()" for o in names)]
    return ordered[:MAX_STATE - min(2, len(defined))] + [c for c in constants if c in defined][:MAX_STATE]


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _imported_calls(graph: CallGraph, loc: Location, source: Source, resolved: set[str]) -> list[str]:
    """Calls in the source's lines to a function the file imports from outside the index, with where from:
    express decides freshness with the `fresh` package, koa chains middleware with `koa-compose`. A JavaScript
    import is a module path, so a call counts when the module's name ends with the called name (`koa-compose`,
    `compose`; `proxy-addr`, `proxyaddr`) or the name is bound on the import's line (`var sign =
    require('cookie-signature').sign`); a Python `from m import f` names `f` itself. A call on an imported module
    (`cookie.serialize(...)`, `hmac.compare_digest(...)`) is named with it."""
    imports = graph.import_lines(source.repo, source.path)
    if not imports:
        return []
    by_line: dict[int, list[str]] = {}
    for name, line in imports:
        by_line.setdefault(line, []).append(name)
    if source.language in ("javascript", "typescript", "tsx"):  # `var sign = require('cookie-signature').sign`
        for name, _kind, line in graph.symbols.references_in(source.repo, source.path, min(by_line),
                                                             max(by_line), ["identifier"]):
            if line in by_line and name not in by_line[line]:
                by_line[line].append(name)
    if source.language == "python":  # `import hmac` binds `hmac`, `import email.message` binds `email`
        modules = {_norm(names[0].split(".")[0]): names[0] for names in by_line.values()
                   if len(names) == 1 and not names[0].startswith(".")}
    else:  # `const util = require('util')`, `var cookie = require('cookie')`
        modules = {_norm(m.rsplit("/", 1)[-1]): m for m, _line in imports if not m.startswith(".")}
    code = "\n".join(line for line in source.text.split("\n") if not line.strip().startswith(_COMMENT))
    calls = [n for n, line in graph.calls(loc) if source.start_line <= line <= source.end_line
             and n not in resolved and n not in NOT_STEPS and len(n) >= 3]
    defined = graph.named(calls)
    found = []
    for name in calls:
        if defined.get(name):
            continue  # an index definition: a call, or one too ambiguous to name
        # a function of an imported module, called on it: `cookie.serialize(...)`, `hmac.compare_digest(...)`
        on = re.search(rf"(?<![\w$.])([A-Za-z_$][\w$]*)\.{re.escape(name)}\s*\(", code)
        if on and (module := modules.get(_norm(on.group(1)))) and on.group(1) not in ("self", "this", "cls"):
            found.append(f"`{on.group(1)}.{name}`" + (f" ({module})" if _norm(module) != _norm(on.group(1)) else ""))
            continue
        for names in by_line.values():
            if name in names:  # Python: `from contextlib import ExitStack` records both names on its line
                module = next((m for m in names if m != name), "") if len(names) == 2 else ""
            elif len(_norm(name)) >= 4 and source.language in ("javascript", "typescript", "tsx"):
                module = next((m for m in names if _norm(m.rsplit("/", 1)[-1]).endswith(_norm(name))), "")
                if not module:
                    continue
            else:
                continue
            found.append(f"`{name}` ({module})" if module and module != name else f"`{name}`")
            break
    return list(dict.fromkeys(found))


def add_users(graph: CallGraph, sources: list[Source], question: str) -> None:
    """Name what uses each source whose symbol the question names: "what is X for?" is answered by where X is
    used. click's `ParameterSource` is for `Parameter.consume_value` and `Context.get_parameter_source`, which
    its own code does not name. Read from the symbol table's references (calls and names, not imports), each
    user the innermost definition around one, outside the tests unless the source is a test."""
    for source in map_sources(sources):
        name = source.short_name.split(".")[-1]
        if not name or not re.search(rf"(?<![\w$]){re.escape(name)}(?![\w$])", question):
            continue
        loc = _definition(graph, source)
        testing = path_role(source.path) == "test"
        uses: dict[str, int] = {}
        values: set[str] = set()
        for repo, path, kind, line in graph.symbols.references(name, graph.repos)[:200]:
            if kind == "import" or (not testing and path_role(path) == "test"):
                continue
            user = graph.enclosing(repo, path, line) or _module_value(graph, repo, path, line)
            if user is None or user.name == name or (loc is not None and (repo, path) == (loc.repo, loc.path)
                                                     and loc.start_line <= user.start_line <= loc.end_line):
                continue  # other module-level code, a namesake (koa's two `onerror`s), the definition, its methods
            parts = user.qualified_name.split(".")
            shown = ".".join(parts[-2:]) if user.kind == "method" and len(parts) > 1 else user.name
            uses[shown] = uses.get(shown, 0) + 1
            if user.kind in VALUE_KINDS:
                values.add(shown)
        # a module-level value built from it first (httpx's `DEFAULT_TIMEOUT_CONFIG = Timeout(timeout=5.0)`: the
        # default every client gets), then the heaviest users: `Parameter.consume_value` names ParameterSource five
        # times, `Context.__init__` once (a stable sort keeps file order among equals)
        source.users = sorted(uses, key=lambda u: (u not in values, -uses[u]))[:MAX_USERS]


def _module_value(graph: CallGraph, repo: str, path: str, line: int) -> Location | None:
    """The module-level constant or variable whose definition holds `line`, if any (asked where no code
    definition holds it)."""
    return next((d for d in graph.file_definitions(repo, path)
                 if d.kind in VALUE_KINDS and d.start_line <= line <= d.end_line), None)


def map_sources(sources: list[Source]) -> list[Source]:
    """The sources the map lists: code definitions in prompt order (for a "how" question the flow's order), each
    definition once (two excerpts of one long function are one place to read)."""
    listed: dict[tuple[str, str, str], Source] = {}
    for s in sources:
        if s.short_name and s.kind in CODE_KINDS:
            listed.setdefault((s.repo, s.path, s.short_name), s)
    steps = [s for s in listed.values() if not s.related and not s.further][:MAX_LINES]
    further = [s for s in listed.values() if s.further]
    return steps + further + [s for s in listed.values() if s.related][:max(0, MAX_LINES - len(steps), MAP_EXTRA)]


def reading_map(sources: list[Source], *, how: bool, numbers: dict[int, int] | None = None) -> str:
    """The list shown under the answer, each line citing its own source: by its prompt number while it streams,
    by `numbers` (prompt number -> final citation number) in the checked answer. "" when no source is code (a
    docs-only answer has nothing to walk)."""
    lines, further, related = [], [], []
    for source in map_sources(sources):
        number = (numbers or {}).get(source.number, source.number)
        where = f"{source.repo}:{source.path}" if source.with_repo else source.path
        facts = [f"{label} {', '.join(f'`{n}`' for n in names)}" for label, names in
                 (("methods", source.members), ("calls", source.calls), ("raises", source.raises),
                  ("catches", source.catches), ("state", source.state), ("used by", source.users)) if names]
        if source.uses:
            facts.append(f"uses {', '.join(source.uses)}")
        caller = f" (calls `{source.leads_to}`)" if source.leads_to else f" (called by `{source.called_by}`)"
        caller = caller if source.further else ""
        line = f"`{source.short_name}`{caller} in {where} [{number}]" + (f": {'; '.join(facts)}." if facts else ".")
        if how and source.further:
            further.append(f"- {line}")
        elif how and source.related:
            related.append(f"- {line}")
        else:
            lines.append(f"{len(lines) + 1}. {line}" if how else f"- {line}")
    if not lines:
        return ""
    # a blank line before each heading: Markdown (the page) would fold a line right after a numbered step into it
    tail = f"\n\n{FURTHER_HEADING}\n" + "\n".join(further) if further else ""
    tail += f"\n\n{RELATED_HEADING}\n" + "\n".join(related) if related else ""
    return f"\n\n{HOW_HEADING if how else WHERE_HEADING}\n" + "\n".join(lines) + tail


def add_map(answer: Answer, sources: list[Source], *, how: bool) -> None:
    """Append the map to a checked answer. A source the prose already cites keeps its number; the others become
    citations after the prose's, so `[k]` stays `citations[k-1]`. The map is built from the index, so the
    name check has nothing to find in it and does not read it."""
    listed = map_sources(sources)
    if not listed:
        return
    numbers: dict[int, int] = {}
    for source in listed:
        if source.number not in answer.cited_numbers:
            answer.cited_numbers.append(source.number)
            answer.citations.append(source)
        numbers[source.number] = answer.cited_numbers.index(source.number) + 1
    answer.text += reading_map(listed, how=how, numbers=numbers)


def split_map(text: str) -> tuple[str, str]:
    """(the model's prose, the reading map) of an answer's text; the map is "" when there is none."""
    cut = min((i for i in (text.rfind("\n\n" + h) for h in HEADINGS) if i >= 0), default=-1)
    return (text, "") if cut < 0 else (text[:cut], text[cut:])
