"""First-day questions for the chat page, made from the tour of the repositories the user can read.

Fixed examples ("where is error handling for failed payments?") only fit the demo shop; under any other repository
they teach a new hire that the tool does not know their code. The tour already knows what a first day needs: how
execution starts (entry points, HTTP routes), which symbols matter most (PageRank over references) and how to build
and test. Each question names one of those, so clicking it gives an answer about this codebase.
"""

from __future__ import annotations

from app.tour.items import Item, Tour

MAX_QUESTIONS = 4


def _entry_question(tour: Tour, item: Item) -> str:
    if item.kind == "route":
        return f"What happens when a request hits {item.text} in {tour.repo}?"
    return f"How does {tour.repo} start when I run {item.text}, and what does it call first?"


def _symbol_question(item: Item, *, how: bool) -> str:
    name = item.text
    if item.kind in ("function", "method") or how:
        return f"How does `{name}` work, step by step?"
    return f"What is `{name}` for, and who uses it?"


def questions_for(tour: Tour) -> list[str]:
    """Questions about one repository, most useful first: what the main class is for, how a request or the
    program's start flows, how a second central symbol works, how to build and test."""
    out: list[str] = []
    symbols = [s for s in tour.central_symbols if s.kind not in ("module", "variable", "section")]
    if symbols:
        out.append(_symbol_question(symbols[0], how=False))
    routes = [e for e in tour.entry_points if e.kind == "route"]
    mains = [e for e in tour.entry_points if e.kind != "route"]
    entry = (routes[len(routes) // 2] if routes else None) or (mains[0] if mains else None)
    if entry is not None:
        out.append(_entry_question(tour, entry))
    callables = [s for s in symbols[1:] if s.kind in ("function", "method")]
    if callables:
        out.append(_symbol_question(callables[0], how=True))
    elif len(symbols) > 1:
        out.append(_symbol_question(symbols[1], how=False))
    if tour.commands.get("test") or tour.commands.get("build"):
        out.append(f"How do I build {tour.repo} and run its tests?")
    elif tour.central_modules:
        out.append(f"What does {tour.central_modules[0].path} do, and where should I start reading in {tour.repo}?")
    return out


def first_day_questions(tours: list[Tour], limit: int = MAX_QUESTIONS) -> list[str]:
    """Up to `limit` questions about the repositories of `tours`."""
    return interleave([questions_for(t) for t in tours], limit)


def interleave(lists: list[list[str]], limit: int = MAX_QUESTIONS) -> list[str]:
    """Up to `limit` questions taken in turn from each repository's list, so several repositories all appear."""
    out: list[str] = []
    for i in range(max((len(q) for q in lists), default=0)):
        for questions in lists:
            if i < len(questions) and questions[i] not in out and len(out) < limit:
                out.append(questions[i])
    return out
