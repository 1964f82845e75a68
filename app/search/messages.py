"""Pasted messages found where the code writes them: a quoted error text matched against string literals.

Why: a bug report pastes what the program printed ("Error: No such option: --verbos", `ValueError: I/O operation
on closed file`). The words of such a message are common ones, so the dense and BM25 searches spread them over
every file that says "option" or "file"; but the message was written, nearly verbatim, as a string literal in one
place: where it is raised or logged. This module pulls the messages out of the question and finds the chunks whose
literals make up the message, placeholders (`%s`, `{name}`, `${x}`, `" + name + "`) allowed to stand for anything.
Only the question's text decides what a message is, never the repository.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from indexer.store import Hit

MIN_CHARS = 12  # shorter quotes are names or values (`"utf-8"`, `'GET'`), not messages
MIN_WORDS = 2  # after "Error:" ("Permission denied"); a quote needs QUOTE_WORDS
QUOTE_WORDS = 3  # `tool --verbos`, "strict routing": a quoted command or setting, not a message
MAX_MESSAGES = 4  # a pasted log repeats itself; the first few distinct messages say it all
MIN_FIXED = 10  # characters of a literal's fixed text that must appear in the message
MIN_COVER = 0.8  # share of a literal's fixed text the message must contain

# "Error: ...", "ValueError: ...", "click.exceptions.UsageError: ...", "WARNING: ...", "fatal: ..."
_ERROR_LINE = re.compile(r"^\s*(?:[\w.]*(?:Error|Exception|Warning|Exit)|fatal|WARN)"
                         r"(?:\[\w+\])?\s*:\s*(.+?)\s*$", re.MULTILINE | re.IGNORECASE)
# An opening quote follows a space or a bracket and a closing one follows text: so the stretch *between* two quoted
# words ("a" function of "b") is never taken for a quote.
_OPEN, _CLOSE = r"(?<![^\s(\[{:=,])", r"(?<=\S)"
_QUOTED = re.compile(rf'{_OPEN}"(?=\S)([^"\n]{{4,300}}){_CLOSE}"|“([^”\n]{{4,300}})”'
                     rf"|{_OPEN}'(?=\S)([^'\n]{{4,300}}){_CLOSE}'(?!\w)|{_OPEN}`(?=\S)([^`\n]{{4,300}}){_CLOSE}`")
# A string literal in Python, JavaScript, Go, Java... (with an optional f/r/b prefix); escapes kept as written.
_LITERAL = re.compile(r'[fFrRbBuU]{0,2}"((?:[^"\\\n]|\\.){4,400})"|[fFrRbBuU]{0,2}\'((?:[^\'\\\n]|\\.){4,400})\''
                      r'|`((?:[^`\\]|\\.){4,400})`')
_PLACEHOLDER = re.compile(r"%[-+ #0]*\d*(?:\.\d+)?[sdifrxXeEgGcoaj%]|%\([^)]*\)[sdifr]|\{[^{}]*\}|\$\{[^{}]*\}"
                          r"|\\[nt]")
_SPACE = re.compile(r"\s+")


def _norm(text: str) -> str:
    return _SPACE.sub(" ", text).strip().lower()


def _is_message(text: str, words: int = MIN_WORDS) -> bool:
    """Prose-like: several words and some letters, not a path, a URL or a single identifier."""
    text = text.strip()
    if len(text) < MIN_CHARS or len(text.split()) < words or text.startswith(("http://", "https://")):
        return False
    return sum(c.isalpha() for c in text) >= len(text) // 2


def question_messages(query: str) -> list[str]:
    """The messages a question pastes: the text after an error line's type, and quoted sentences."""
    found: list[str] = []
    for m in _ERROR_LINE.finditer(query):
        text = m.group(1)
        # "Error: No such option: --verbos" -> the whole rest is the message; a frame line is not
        if _is_message(text) and not text.startswith("File \""):
            found.append(text)
    for m in _QUOTED.finditer(query):
        text = next(g for g in m.groups() if g is not None)
        if _is_message(text, QUOTE_WORDS):
            found.append(text)
    out: list[str] = []
    for text in found:
        n = _norm(text)
        if n and all(n not in o and o not in n for o in out):
            out.append(n)
    return out[:MAX_MESSAGES]


def _fixed_parts(literal: str) -> list[str]:
    """A literal's text without its placeholders, as the pieces the program prints verbatim."""
    return [p for p in (_norm(x) for x in _PLACEHOLDER.split(literal)) if len(p) >= 3]


Literal = tuple[list[str], int, str]  # fixed pieces, their length, the whole text with placeholders as spaces


def literals(text: str) -> list[Literal]:
    """The string literals of a chunk with enough fixed text to identify a message."""
    out = []
    for m in _LITERAL.finditer(text):
        literal = next(g for g in m.groups() if g is not None)
        parts = _fixed_parts(literal)
        fixed = sum(len(p) for p in parts)
        if fixed >= MIN_FIXED:
            out.append((parts, fixed, _norm(_PLACEHOLDER.sub(" ", literal))))
    return out


def best_match(message: str, found: list[Literal]) -> int:
    """How many fixed characters of the best of `found` the message contains (0: none matches).

    A literal matches when at least MIN_FIXED of its fixed characters, and MIN_COVER of them, appear in the
    message in order: `"No such option: {name}"` matches "no such option: --verbos", while a literal that
    only shares the word "option" does not. A literal longer than the message must itself contain it
    (the report quoted part of a long text)."""
    best = 0
    for parts, fixed, flat in found:
        if len(message) >= MIN_FIXED and message in flat:
            best = max(best, len(message))
            continue
        pos, covered = 0, 0
        for part in parts:
            at = message.find(part, pos)
            if at >= 0:
                covered += len(part)
                pos = at + len(part)
        if covered >= MIN_FIXED and covered >= MIN_COVER * fixed:
            best = max(best, covered)
    return best


def literal_matches(message: str, text: str) -> int:
    """`best_match` against the literals of one chunk's text."""
    return best_match(message, literals(text))


def message_sites(messages: Iterable[str], search: Callable[[str], list[Hit]]) -> list[Hit]:
    """The hits whose literals make up one of the messages, best match first.

    `search(message)` is a word (BM25) search: the literal's words are the message's words, so it holds the
    site among its first few dozen hits whenever the index has it; this only keeps the ones that match. The
    messages of one question find many of the same chunks, which are parsed once."""
    parsed: dict[str, list[Literal]] = {}
    scored: dict[str, tuple[int, Hit]] = {}
    for message in messages:
        for hit in search(message):
            if hit.id not in parsed:
                parsed[hit.id] = literals(hit.chunk.text)
            score = best_match(message, parsed[hit.id])
            if score and score > scored.get(hit.id, (0, hit))[0]:
                scored[hit.id] = (score, hit)
    return [hit for _score, hit in sorted(scored.values(), key=lambda t: -t[0])]


__all__ = ["literal_matches", "message_sites", "question_messages"]
