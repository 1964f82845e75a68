""""How" questions follow the code: the sources hold the flow, not only its entry.

Search finds where a flow starts ("how are orders paid?" finds `OrderService.pay`), but the answer needs the steps
it takes, which live in the functions it calls (`PaymentGateway.charge`, `Notifier.order_confirmed`). For a
question that asks how something works, the best hits' calls are followed through the symbol table
(app/answer/callgraph.py) one or two hops; each callee is ranked by the dense similarity of its chunk to the
question (computed by the store, within the caller's repositories), the best few join the sources, and the
sources are ordered along the flow: each caller directly before the callees it leads to, in the order its body
calls them. When search lands in the middle of a flow, the caller the question names leads into the hit
(`_caller_first`; on the dev split, koa's `respond` gets `handleRequest` before it); when it lands on a class (whose
chunk is its head), the flow starts at the class's method that is most about the question (`_best_method`: click's
`Command` for "--help" starts at `format_help`).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, replace

from app.answer.callgraph import CALLABLE_KINDS, CallGraph
from app.search.retriever import Retriever, SearchHit
from app.search.roles import path_role
from indexer.catalog.symbols import Location
from indexer.store import SearchFilter

_HOW = re.compile(
    r"^\s*(?:(?:and|so|but|ok|okay)[\s,]+)?(?:"
    r"how\b(?!\s+(?:many|much|long|often|old|big|large|far|come)\b)"
    r"|what\s+happens\b|walk\s+(?:me\s+)?through\b|explain\s+how\b|trace\b|show\s+(?:me\s+)?how\b"
    r"|what\s+(?:is|are)\s+the\s+(?:flow|steps|sequence)\b|in\s+what\s+order\b|which\s+steps\b)",
    re.I)
QUOTAS = (2, 1)  # callees added on the first hop for the best and the second-best callable hit
SECOND_HOP = 1  # callees of those callees added on the second hop
INHERITED_LEVELS = 2  # a class hit's flow may start at a method its bases define, this many levels up
EXTRA_SOURCES = 2  # a flow may carry this many sources more than plain retrieval's k; plain hits make room
FURTHER = 4  # definitions past the flow's sources named in the reading map (follow_on), besides its entry's caller
# follow_on's bar, above the flow's own: on the dev split a chain's steps ranked 0.33-0.66 (httpx's
# `_send_handling_auth` 0.37), the plumbing it ran into 0.12-0.24 (`Response.close`, `request_context`); 0.2 and
# 0.3 gave the same map, 0.4 lost steps (key 0.84 -> 0.81)
FURTHER_SIMILARITY = 0.3
MIN_SIMILARITY = 0.15  # a callee less similar to the question than this is plumbing, not a step
# Measured on the example shop ("how are orders paid?"): the question alone ranks the callees of
# `OrderService.pay` as order_confirmed 0.31, OrderError 0.26, transaction 0.25, charge 0.22. The caller's own
# docstring names its steps ("charge the customer's card ... queue the confirmation email"), so a callee whose name
# words occur in the question or in the caller's docstring and comments gains up to NAME_BONUS, an exception
# class (a branch, not a step) loses it, and another class (a record being built) loses half of it.
NAME_BONUS = 0.1
CLASS_KINDS = {"class", "struct", "impl", "object", "trait", "interface"}
_PLUMBING = {"__init__", "constructor", "super", "__repr__", "__str__", "toString"}
_EXCEPTION = re.compile(r"(Error|Exception|Failure|Warning)$")


def is_how_question(question: str) -> bool:
    """Whether the question asks how something works (a flow), decided from its wording only."""
    return bool(_HOW.search(question))


@dataclass
class FlowStep:
    """A source's place in the flow: the caller it was reached from (None for a search hit)."""

    hit: SearchHit
    caller: str = ""  # qualified name of the caller, "" for a search hit
    depth: int = 0
    line: int = 0  # where the caller calls it: siblings are ordered by it
    text: str = ""  # the code read for the caller's docstring and comments


def follow_flow(retriever: Retriever, question: str, hits: list[SearchHit], *, repos: list[str] | None,
                languages: list[str] | None = None, hops: int = 2, texts: list[str] | None = None) -> list[FlowStep]:
    """The hits with the best callees of the best callable hits added, ordered along the flow. The total grows
    by at most EXTRA_SOURCES: the lowest plain hits give way to the flow's steps. `texts`: the hits' whole code
    (a long symbol's hit holds one part), read for the docstrings that name a caller's steps."""
    graph = CallGraph(retriever.reader, repos)
    steps = [FlowStep(h, text=t) for h, t in zip(hits, texts or [h.text for h in hits], strict=True)]
    seen = {(h.repo, h.path, h.symbol) for h in hits}
    vector = retriever.embedder.embed_query(question)
    seeds: list[tuple[FlowStep, Location]] = []
    kept: list[FlowStep] = []  # a class whose method became a seed stays, before it
    for step in list(steps):
        if len(seeds) >= len(QUOTAS):
            break
        loc = _location(graph, step.hit)
        if loc is not None and loc.kind in CALLABLE_KINDS:
            seeds.append((step, loc))
        elif loc is not None and loc.kind in CLASS_KINDS:
            # "how does click put together the --help text?" finds the `Command` class, whose chunk is its head;
            # the flow starts at its method that is most about the question (`format_help`)
            method = _best_method(graph, retriever, vector, question, loc, seen, repos, languages)
            if method is not None:
                seen.add(_key(method[1]))
                steps.insert(steps.index(step) + 1, method[0])
                seeds.append(method)
                kept.append(step)
    if not seeds:
        return steps
    added: list[tuple[FlowStep, FlowStep]] = []  # (new step, the step it was reached from)

    def pick(parents: list[tuple[FlowStep, Location]], quota: int, depth: int) -> list[tuple[FlowStep, Location]]:
        # Calls are matched by name, not type: code outside the tests does not call into them (itsdangerous's
        # `self.signer(...)` in `Serializer.make_signer` reached the test helper `TestSigner.signer`).
        candidates = [(parent, edge.callee, edge.line) for parent, loc in parents
                      for edge in graph.callees(loc, max_candidates=2)
                      if (edge.callee.repo, edge.callee.path, edge.callee.qualified_name) not in seen
                      and (path_role(loc.path) == "test" or path_role(edge.callee.path) != "test")]
        if not candidates:
            return []
        scored = _similarities(retriever, vector, [c[1] for c in candidates], repos, languages)

        def rank(c: tuple[FlowStep, Location, int]) -> float:
            return _callee_rank(scored[_key(c[1])][0], c[1], question, c[0])

        ranked = sorted((c for c in candidates if _key(c[1]) in scored), key=lambda c: -rank(c))
        picked = []
        for parent, callee, line in ranked:
            sim, hit = scored[_key(callee)]
            if len(picked) >= quota or rank((parent, callee, line)) < MIN_SIMILARITY:
                break
            if _key(callee) in seen:
                continue
            seen.add(_key(callee))
            if _twin(graph, callee, [s.hit for s in steps] + [s.hit for s, _p in added]):
                continue
            step = FlowStep(replace(hit, score=parent.hit.score), caller=parent.hit.symbol, depth=depth, line=line)
            added.append((step, parent))
            picked.append((step, callee))
        return picked

    if (up := _caller_first(graph, retriever, vector, question, seeds[0], seen, repos, languages)) is not None:
        caller_step, caller_loc, line = up
        seed_step = seeds[0][0]
        steps[steps.index(seed_step)] = caller_step  # the caller takes the hit's place, the hit becomes its step
        seed_step.caller, seed_step.depth, seed_step.line = caller_step.hit.symbol, 1, line
        added.append((seed_step, caller_step))
        seeds = [(caller_step, caller_loc), *seeds]
    first_hop = []
    for (step, loc), quota in zip(seeds, QUOTAS, strict=False):
        first_hop += pick([(step, loc)], quota, 1)
    if hops >= 2:
        pick([(s, c) for s, c in first_hop if c.kind in CALLABLE_KINDS], SECOND_HOP, 2)
    seed_ids = {id(step) for step, _loc in seeds} | {id(step) for step in kept}
    limit = len(hits) + EXTRA_SOURCES
    while len(steps) + len(added) > limit and any(id(s) not in seed_ids for s in steps):
        drop = next(s for s in reversed(steps) if id(s) not in seed_ids)
        steps.remove(drop)
        added = [(s, p) for s, p in added if p is not drop]
    return _order(steps, added)


def _callee_rank(similarity: float, callee: Location, question: str, parent: FlowStep) -> float:
    """A callee's dense similarity to the question, up to NAME_BONUS more when its name's words are in the question
    or in its caller's docstring and comments, less for an exception class (a branch) or a record being built."""
    bonus = NAME_BONUS * _name_overlap(callee.name, question + "\n" + _prose(parent.text or parent.hit.text))
    penalty = NAME_BONUS if _EXCEPTION.search(callee.name) else 0.0
    if callee.kind not in CALLABLE_KINDS:  # constructing a record is rarely the step a reader looks for
        penalty = max(penalty, NAME_BONUS / 2)
    return similarity + bonus - penalty


def _named_rank(scored: dict[tuple[str, str, str], tuple[float, SearchHit]], loc: Location, question: str) -> float:
    """A definition's similarity to the question, up to NAME_BONUS more when its name's words are in the question
    (a class's method or a caller, where no caller's docstring speaks for it); -1 when the store found none."""
    return scored[_key(loc)][0] + NAME_BONUS * _name_overlap(loc.name, question) if _key(loc) in scored else -1.0


def follow_on(retriever: Retriever, question: str, steps: list[FlowStep], *, repos: list[str] | None,
              languages: list[str] | None = None, limit: int = FURTHER) -> list[FlowStep]:
    """Where the flow comes from and goes after its sources, for the reading map: the best-ranked caller of the
    flow's entry (depth -1, `caller` naming the entry it calls), then up to `limit` definitions the sources'
    calls lead to (`caller` naming the step each is called by).

    The prompt holds four to six sources, so a flow that runs deeper ends at its sources' calls: httpx's
    `Client.request` calls `send`, which calls `_send_handling_auth`, then `_send_handling_redirects`, then
    `_send_single_request`; and search often lands past the start (koa's `handleRequest`, entered from the function
    `callback` returns, which composes the middleware first). These are named in the map only; the model never
    reads them, so they cost no prompt time. Callees are ranked like the flow's own (`_callee_rank`); the chain
    goes on from the step just taken while one of its calls clears FURTHER_SIMILARITY, else from the best of
    all candidates. Calls on `self`/`this` resolve to the own class's method here, as in the map (`self.send`)."""
    graph = CallGraph(retriever.reader, repos)
    vector = retriever.embedder.embed_query(question)
    seen = {(s.hit.repo, s.hit.path, s.hit.symbol) for s in steps}
    frontier: list[tuple[FlowStep, Location, int]] = []
    names: dict[int, str] = {}  # a step's name as the map shows it, by id

    def expand(step: FlowStep, loc: Location, code: str) -> None:
        names[id(step)] = _shown(loc)
        testing = path_role(loc.path) == "test"
        for edge in graph.callees(loc, max_candidates=2, code=code):
            callee = edge.callee
            if _key(callee) not in seen and callee.name not in _PLUMBING and callee.kind in CALLABLE_KINDS \
                    and (testing or path_role(callee.path) != "test"):
                frontier.append((step, callee, edge.line))

    for step in steps:
        loc = _location(graph, step.hit)
        if loc is not None and loc.kind in CALLABLE_KINDS:
            expand(step, loc, step.text or step.hit.text)
    scored: dict[tuple[str, str, str], tuple[float, SearchHit] | None] = {}
    out: list[FlowStep] = []
    if (before := _entry_caller(graph, retriever, vector, question, steps, seen, repos, languages)) is not None:
        out.append(before)
    while frontier and sum(1 for o in out if o.depth >= 0) < limit:
        missing = list({_key(c): c for _p, c, _l in frontier if _key(c) not in scored}.values())
        if missing:
            found = _similarities(retriever, vector, missing, repos, languages)
            scored.update({_key(c): found.get(_key(c)) for c in missing})

        def rank(c: tuple[FlowStep, Location, int]) -> float:
            got = scored[_key(c[1])]
            return -1.0 if got is None else _callee_rank(got[0], c[1], question, c[0])

        # the chain goes on from the step just taken while one of its calls is about the question
        chained = [c for c in frontier if out and c[0] is out[-1] and rank(c) >= FURTHER_SIMILARITY]
        parent, callee, line = max(chained or frontier, key=rank)
        if rank((parent, callee, line)) < FURTHER_SIMILARITY:
            break
        seen.add(_key(callee))
        frontier = [c for c in frontier if _key(c[1]) not in seen]
        hit = scored[_key(callee)][1]  # type: ignore[index]
        code = graph.code(callee) or hit.text
        if _twin(graph, callee, [s.hit for s in [*steps, *out]], code=code):
            continue
        step = FlowStep(replace(hit, text=code), caller=names[id(parent)], depth=parent.depth + 1, line=line,
                        text=code)
        out.append(step)
        expand(step, callee, code)
    return out


def _entry_caller(graph: CallGraph, retriever: Retriever, vector: object, question: str, steps: list[FlowStep],
                  seen: set[tuple[str, str, str]], repos: list[str] | None,
                  languages: list[str] | None) -> FlowStep | None:
    """The best-ranked caller (outside the tests) of the flow's first callable step, if it clears
    FURTHER_SIMILARITY: koa's `handleRequest` is run by the function `callback` returns, and `callback` composes
    the middleware and creates the context first. Depth -1; its `caller` names the step it leads to."""
    entry = next((loc for s in steps if (loc := _location(graph, s.hit)) is not None
                  and loc.kind in CALLABLE_KINDS), None)
    if entry is None:
        return None
    edges, _sites = graph.callers(entry, limit=100, resolved=True)
    callers = list({_key(c): c for c in (_outermost(graph, e.caller) for e in edges)
                    if c.kind in CALLABLE_KINDS and _key(c) not in seen and c != entry
                    and path_role(c.path) != "test"}.values())
    found = _similarities(retriever, vector, callers, repos, languages) if callers else {}

    def rank(c: Location) -> float:
        return _named_rank(found, c, question)

    best = max(callers, key=rank, default=None)
    if best is None or rank(best) < FURTHER_SIMILARITY:
        return None
    seen.add(_key(best))
    code = graph.code(best) or found[_key(best)][1].text
    return FlowStep(replace(found[_key(best)][1], text=code), depth=-1, text=code, caller=_shown(entry))


def _best_method(graph: CallGraph, retriever: Retriever, vector: object, question: str, cls: Location,
                 seen: set[tuple[str, str, str]], repos: list[str] | None,
                 languages: list[str] | None) -> tuple[FlowStep, Location] | None:
    """The class's method ranked best for the question (like a callee), if it clears MIN_SIMILARITY. Inherited
    methods count (bases two levels up, a nearer class's method hiding a farther one of the same name): itsdangerous's
    `URLSafeTimedSerializer` defines no method of its own, and "how does it turn a token back into my data?" is
    its base `TimedSerializer.loads`."""
    methods: list[Location] = []
    names: set[str] = set()
    level, done = [cls], {cls}
    for depth in range(INHERITED_LEVELS + 1):
        found = []
        for owner in level:
            prefix = owner.qualified_name + "."
            found += [d for d in graph.file_definitions(owner.repo, owner.path) if d.kind in CALLABLE_KINDS
                      and d.qualified_name.startswith(prefix) and "." not in d.qualified_name[len(prefix):]
                      and d.name not in names and not (depth and d.name in _PLUMBING) and _key(d) not in seen]
        methods += found
        names |= {d.name for d in found}
        level = [b for owner in level for b in graph.bases(owner) if b not in done]
        done.update(level)
    if not methods:
        return None
    scored = _similarities(retriever, vector, methods, repos, languages)

    def rank(d: Location) -> float:
        return _named_rank(scored, d, question)

    best = max(methods, key=rank)
    if rank(best) < MIN_SIMILARITY:
        return None
    return FlowStep(scored[_key(best)][1]), best


def _caller_first(graph: CallGraph, retriever: Retriever, vector: object, question: str,
                  seed: tuple[FlowStep, Location], seen: set[tuple[str, str, str]], repos: list[str] | None,
                  languages: list[str] | None) -> tuple[FlowStep, Location, int] | None:
    """The caller that leads into the best hit, when it is more about the question than the hit itself.

    Search often lands in the middle of a flow: "how does a Koa application handle an incoming request?" finds
    `respond`, the last step, while `handleRequest` (which calls it) and `callback` hold the flow. The hit's
    callers (outside the tests) are ranked like callees; the best one comes first when it ranks at least as high
    as the hit or its name holds more of the question's words (`handleRequest` for "handle ... request"), so
    "how does `dumps` work?" keeps `dumps` as the entry."""
    step, loc = seed
    edges, _sites = graph.callers(loc, limit=100, resolved=True)
    lines: dict[tuple[str, str, str], int] = {}
    found: dict[tuple[str, str, str], Location] = {}
    for e in edges:
        caller = _outermost(graph, e.caller)  # `handleResponse = () => respond(ctx)` is a line of `handleRequest`
        if caller.kind in CALLABLE_KINDS and _key(caller) not in seen and caller != loc \
                and path_role(caller.path) != "test":
            found.setdefault(_key(caller), caller)
            lines.setdefault(_key(caller), e.line)
    callers = list(found.values())
    if not callers:
        return None
    scored = _similarities(retriever, vector, [*callers, loc], repos, languages)

    def rank(d: Location) -> float:
        return _named_rank(scored, d, question)

    best = max(callers, key=rank)
    named = _name_overlap(best.name, question) > _name_overlap(loc.name, question)
    if rank(best) < MIN_SIMILARITY or (rank(best) < rank(loc) and not named):
        return None
    seen.add(_key(best))
    hit = scored[_key(best)][1]
    return FlowStep(replace(hit, score=step.hit.score)), best, lines[_key(best)]


def _outermost(graph: CallGraph, loc: Location) -> Location:
    """The function a nested function (a closure, an arrow function) is part of: its own lines are no chunk."""
    by_name = {d.qualified_name: d for d in graph.file_definitions(loc.repo, loc.path)}
    while (parent := by_name.get(loc.qualified_name.rpartition(".")[0])) is not None \
            and parent.kind in CALLABLE_KINDS:
        loc = parent
    return loc


def _order(steps: list[FlowStep], added: list[tuple[FlowStep, FlowStep]]) -> list[FlowStep]:
    """Each step followed by the steps reached from it, in the order its body calls them (depth first)."""
    children: dict[int, list[FlowStep]] = {}
    for step, parent in added:
        children.setdefault(id(parent), []).append(step)
    out: list[FlowStep] = []

    def visit(step: FlowStep) -> None:
        out.append(step)
        for kid in sorted(children.get(id(step), []), key=lambda s: s.line):
            visit(kid)

    for step in steps:
        visit(step)
    return out


def _words(text: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text).replace("_", " ")
    return [w.lower() for w in re.findall(r"[A-Za-z]{3,}", spaced)]


def _name_overlap(name: str, text: str) -> float:
    """The share of a name's words (`order_confirmed`: order, confirmed) found in `text`, endings folded."""
    pieces = _words(name)
    if not pieces:
        return 0.0
    hay = " ".join(_words(text))
    return sum(1 for p in pieces if p[: max(4, len(p) - 3)] in hay) / len(pieces)


def _prose(code: str) -> str:
    """A function's docstring and comments: where its author says what its steps are."""
    out, in_doc = [], False
    for raw in code.split("\n"):
        line = raw.strip()
        quotes = line.count('"""') + line.count("'''")
        if in_doc or quotes:
            out.append(line)
            in_doc = in_doc != (quotes % 2 == 1)
        elif line.startswith(("#", "//", "/*", "*")):
            out.append(line)
    return "\n".join(out)


def _key(loc: Location) -> tuple[str, str, str]:
    return (loc.repo, loc.path, loc.qualified_name)


def _location(graph: CallGraph, hit: SearchHit) -> Location | None:
    for d in graph.file_definitions(hit.repo, hit.path):
        if d.qualified_name == hit.symbol and d.start_line <= hit.end_line and hit.start_line <= d.end_line:
            return d
    return None


def _similarities(retriever: Retriever, vector: object, callees: list[Location], repos: list[str] | None,
                  languages: list[str] | None) -> dict[tuple[str, str, str], tuple[float, SearchHit]]:
    """Each callee's best chunk similarity to the question, searched by the store within the callees' files
    (and the caller's repositories), with the chunk as a hit spanning the whole symbol."""
    reader = retriever.reader
    assert reader.store is not None
    paths = sorted({c.path for c in callees})
    wanted = {(c.repo, c.path, c.qualified_name) for c in callees}
    flt = SearchFilter(repos=repos if repos is not None else sorted({c.repo for c in callees}),
                       languages=languages, paths=paths)
    found: dict[tuple[str, str, str], tuple[float, SearchHit]] = {}
    for h in reader.store.dense_search(vector, 256, flt):
        chunk = h.chunk
        key = (chunk.repo, chunk.path, chunk.symbol)
        if key not in wanted or (key in found and found[key][0] >= h.score):
            continue
        span = reader.manifest.symbol_lines(chunk.repo, chunk.path, chunk.symbol, chunk.kind) \
            if chunk.parts > 1 else None
        start, end = span or (chunk.start_line, chunk.end_line)
        found[key] = (h.score, SearchHit(chunk.repo, chunk.path, start, end, chunk.symbol, chunk.kind,
                                         chunk.language, h.score, chunk.text))
    return found


_ASYNC_WORDS = re.compile(r"\b(?:async|await)\s+|\bAsync(?=[A-Z])|\ba(?=(?:iter|close|read|send|enter|exit)\w*\b)")


def without_twins(hits: list[SearchHit]) -> list[SearchHit]:
    """Hits without the async twin of a method already listed: httpx's `AsyncClient.get` and `Client.get` differ
    only in `async`/`await`, and two of them took two of a "how" question's four places. A twin is a method of
    the same name in the same file whose code is the same once those words are taken out."""
    out: list[SearchHit] = []
    for hit in hits:
        name = _sync_name(hit.symbol)
        if hit.kind == "method" and any(
                h.kind == "method" and (h.repo, h.path) == (hit.repo, hit.path) and h.symbol != hit.symbol
                and _sync_name(h.symbol) == name and same_code(h.text, hit.text) for h in out):
            continue
        out.append(hit)
    return out


def _twin(graph: CallGraph, callee: Location, taken: list[SearchHit], *, code: str = "") -> bool:
    """Whether the callee is the async twin of a method already taken (`AsyncClient.request` beside
    `Client.request`): one of them is the step, and the other would take a place. Compared by all their code
    (a hit may hold one part of a long method)."""
    same = [h for h in taken if h.kind == "method" and _sync_name(h.symbol) == _sync_name(callee.name)
            and (h.repo, h.path) == (callee.repo, callee.path) and h.symbol != callee.qualified_name]
    if not same:
        return False
    code = code or graph.code(callee)
    for h in same:
        loc = _location(graph, h)
        if loc is not None and same_code(graph.code(loc) or h.text, code):
            return True
    return False


def _shown(loc: Location) -> str:
    """A definition's name as the map writes it: `Class.method` for a method, else its own name."""
    return ".".join(loc.qualified_name.split(".")[-2:]) if loc.kind == "method" else loc.name


def _sync_name(symbol: str) -> str:
    """A method's short name without its async mark: `aiter_bytes` -> `iter_bytes`, `aclose` -> `close`."""
    return _ASYNC_WORDS.sub("", symbol.rsplit(".", 1)[-1])


def same_code(a: str, b: str) -> bool:
    """Whether two definitions' code is the same but for `async`/`await` (a sync method and its async twin)."""
    words_a, words_b = (re.findall(r"\w+", _ASYNC_WORDS.sub("", t)) for t in (a, b))
    return bool(words_a) and difflib.SequenceMatcher(None, words_a, words_b, autojunk=False).ratio() >= 0.9
