"""What an answer is: its numbered sources, its text, what was flagged in it, and the stream that produces it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

# -- the result ---------------------------------------------------------------------------------------------------


@dataclass
class Source:
    """One numbered excerpt in the prompt: a real location in the index and its code."""

    number: int
    repo: str
    path: str
    start_line: int
    end_line: int
    symbol: str
    kind: str
    language: str
    text: str
    score: float = 0.0
    with_repo: bool = False  # name the repository in the prompt (when more than one is indexed)
    called_by: str = ""  # for a "how" question: the source's caller in the flow (app/answer/flow.py)
    calls: list[str] = field(default_factory=list)  # what its code calls, from the symbol table (outline.py)
    raises: list[str] = field(default_factory=list)  # the index's exceptions its code raises or throws
    catches: list[str] = field(default_factory=list)  # the exception types its code catches
    members: list[str] = field(default_factory=list)  # for a class: its public methods, in source order
    uses: list[str] = field(default_factory=list)  # imported functions from outside the index it calls
    state: list[str] = field(default_factory=list)  # fields and module constants its code reads or sets
    show_calls: bool = False  # name `calls` in the prompt header (a "how" question's sources)
    related: bool = False  # a search hit the model never read, listed after a "how" map's steps
    further: bool = False  # where a "how" flow goes past the sources (flow.follow_on); the model never read it
    leads_to: str = ""  # for a `further` source before the flow: the step it calls (the flow's entry)
    users: list[str] = field(default_factory=list)  # what uses it, for a symbol the question names (outline.py)

    @property
    def location(self) -> str:
        return f"{self.repo}:{self.path}:L{self.start_line}-L{self.end_line}"

    @property
    def short_name(self) -> str:
        """`OrderService.pay` for a method, `reserve_stock` for a function, the heading for a section."""
        if not self.symbol or self.kind == "module":
            return ""
        if "#" in self.symbol:
            return self.symbol.split("#", 1)[1]
        parts = self.symbol.split(".")
        return ".".join(parts[-2:]) if self.kind == "method" and len(parts) > 1 else parts[-1]

    def block(self) -> str:
        where = f"{self.repo}:{self.path}" if self.with_repo else self.path
        what = f"{self.kind} {self.short_name} in " if self.short_name else ""
        caller = self.called_by.split(".")[-2:] if self.called_by else []
        step = f", called by {'.'.join(caller)}" if caller else ""
        step += f"; it calls {', '.join(self.calls)}" if self.calls and self.show_calls else ""
        step += f"; it raises {', '.join(self.raises)}" if self.raises and self.show_calls else ""
        return (f"Source [{self.number}]: {what}{where}, lines {self.start_line}-{self.end_line}{step}\n"
                f"```{self.language}\n{self.text.rstrip()}\n```")

    def citation_json(self) -> dict:
        return {"repo": self.repo, "path": self.path, "start_line": self.start_line, "end_line": self.end_line,
                "symbol": self.symbol}


@dataclass(frozen=True)
class Flag:
    """Something the answer names that the index does not hold."""

    text: str
    kind: str  # "path" or "symbol" (not in the index), "relation" (false by the index), "citation" (dropped),
    # "corrected" (a path written as the one source file it stands for), "example" (a sentence copied from the
    # prompt's worked example, removed)
    reason: str


@dataclass
class Answer:
    question: str
    standalone_question: str
    text: str  # final: citations renumbered to match `citations`, unknown names marked
    raw_text: str  # what was streamed: the model's text as written, then the reading map (outline.py)
    citations: list[Source]  # the sources the answer cites, in order of first citation
    cited_numbers: list[int]  # their numbers in the prompt (and in the streamed text)
    sources: list[Source]  # every source the prompt carried
    flagged: list[Flag]
    no_context: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    facts: Any = None  # the FactsCard shown before the answer (app/answer/facts.py), when one was built

    def to_json(self) -> dict:
        """The `dayone ask --json` contract; `facts` is the card read from the index, never generated."""
        return {"question": self.question, "answer": self.text,
                "citations": [c.citation_json() for c in self.citations],
                "facts": self.facts.to_json() if self.facts is not None else []}


class AnswerStream:
    """Iterate for the answer's text as it is generated; `answer` holds the checked result afterwards."""

    def __init__(self, pieces: Iterator[str], finish: Any, sources: list[Source]):
        self._pieces = pieces
        self._finish = finish
        self.sources = sources
        self._answer: Answer | None = None

    def __iter__(self) -> Iterator[str]:
        if self._answer is not None:
            return
        collected: list[str] = []
        for piece in self._pieces:
            collected.append(piece)
            yield piece
        self._answer = self._finish("".join(collected))

    @property
    def answer(self) -> Answer:
        if self._answer is None:
            for _ in self:
                pass
        assert self._answer is not None
        return self._answer
