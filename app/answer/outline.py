"""The reading map under an answer: each code source the answer drew on, with the functions it calls.

Measured on the answer eval's dev split (40 questions, 2026-12-03): the prompt's sources hold 0.82 of the key
symbols a good answer names, their names alone 0.35, and the 1.5B model's prose about 0.24. A small model writes
about the entry point and drops the steps that live one call further (`derive_key`, `get_signature`). The symbol
table knows those calls, so they are read from it, not generated: the sources' names plus their calls hold 0.48.

The map goes to two places. In the prompt of a "how" question, each source's header names what it calls, so
the model can follow the flow it is asked to explain. Under the answer, a short list ("Steps in the code" for a
"how" question, in the flow's order; "Where to read" otherwise) names each source with its citation and its
calls, so a new hire can walk the code even when the prose is thin. Every name in it is a definition in the
index, within the user's repositories.
"""

from __future__ import annotations

from app.answer.callgraph import CODE_KINDS, CallGraph
from app.answer.results import Answer, Source
from app.search.roles import path_role
from indexer.catalog.symbols import Location

MAX_CALLS = 6  # calls named per source: a class body calls many things, and the list must stay readable
MAX_LINES = 5  # sources in the map under the answer
HOW_HEADING = "Steps in the code (in the order they run, from the index):"
WHERE_HEADING = "Where to read (from the index):"
HEADINGS = (HOW_HEADING, WHERE_HEADING)
# Calls by these names are language plumbing, not steps, even where a repository defines something of that name.
NOT_STEPS = {"super", "__init__", "constructor", "new", "init", "isinstance", "len", "str", "repr"}


def _definition(graph: CallGraph, source: Source) -> Location | None:
    """The definition a source excerpt shows: the one starting on its first line, else the one around it."""
    for d in graph.file_definitions(source.repo, source.path):
        if d.start_line == source.start_line and d.kind in CODE_KINDS:
            return d
    return graph.enclosing(source.repo, source.path, source.start_line)


def source_calls(graph: CallGraph, source: Source) -> list[str]:
    """Names of the index's definitions that the source's code calls, in the order it calls them: a method as
    `Class.method` when the call resolves to one definition (the 0.5B model read a bare `reserve_stock` in
    `OrderService`'s header as `OrderService.reserve_stock`), else the short name.

    A name with more than three definitions in scope (`get`, `run`) is not listed: which one runs is a guess.
    """
    if not source.short_name:
        return []
    loc = _definition(graph, source)
    if loc is None:
        return []
    # Names are matched, not types: in itsdangerous, `self.signer(...)` in `Serializer.make_signer` (an attribute)
    # resolved to the only `signer` definition, a test's. Code outside the tests does not call into them.
    testing = path_role(source.path) == "test"
    targets: dict[str, list[Location]] = {}
    for edge in graph.callees(loc):
        name = edge.callee.name
        if name != loc.name and name not in NOT_STEPS and source.start_line <= edge.line <= source.end_line and (
                testing or path_role(edge.callee.path) != "test"):
            targets.setdefault(name, []).append(edge.callee)
    names = []
    for name, found in targets.items():
        one = found[0] if len(found) == 1 else None
        parts = one.qualified_name.split(".") if one is not None and one.kind == "method" else []
        names.append(".".join(parts[-2:]) if len(parts) > 1 else name)
    return names[:MAX_CALLS]


def map_sources(sources: list[Source]) -> list[Source]:
    """The sources the map lists: code definitions in prompt order (for a "how" question the flow's order)."""
    return [s for s in sources if s.short_name and s.kind in CODE_KINDS][:MAX_LINES]


def reading_map(sources: list[Source], *, how: bool, numbers: dict[int, int] | None = None) -> str:
    """The list shown under the answer, each line citing its own source: by its prompt number while it streams,
    by `numbers` (prompt number -> final citation number) in the checked answer. "" when no source is code (a
    docs-only answer has nothing to walk)."""
    lines = []
    for source in map_sources(sources):
        number = (numbers or {}).get(source.number, source.number)
        calls = ", ".join(f"`{c}`" for c in source.calls)
        where = f"{source.repo}:{source.path}" if source.with_repo else source.path
        line = f"`{source.short_name}` in {where} [{number}]" + (f": calls {calls}." if calls else ".")
        lines.append(f"{len(lines) + 1}. {line}" if how else f"- {line}")
    if not lines:
        return ""
    return f"\n\n{HOW_HEADING if how else WHERE_HEADING}\n" + "\n".join(lines)


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
