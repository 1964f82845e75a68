"""The repositories a question names, so that "what is koa's context object for?" is searched in koa.

Why: with several repositories indexed, the question's words match every repository alike, and the repository
named in it was ignored. On an index of click, httpx, itsdangerous, express and koa, "What is koa's context object
for?" got click's `Context` as every source (its docstring matches "context object" best), koa's lib/context.js
none.

A repository counts as named only where the question writes it as a name: "koa's", "in koa", "of the koa repo",
"koa repository / project / codebase / library / package / service", "`koa`", or as the subject of "does koa ...".
A bare word is not enough: "what happens when I click the button?" must not narrow an index holding click and a
web app to click. Only repositories in scope are matched (a restricted user's allow-list), so a hidden one's name
changes nothing.
"""

from __future__ import annotations

import re

from indexer.reader import IndexReader

_BEFORE = r"(?:\b(?:in|of|from|inside|within|for|into|across|by)\s+(?:the\s+)?|\b(?:does|do|did|can|could|will|would|" \
          r"should|is|are|was|were)\s+|`)"
_AFTER = r"(?:'s\b|`|\s+(?:repo|repos|repository|repositories|project|codebase|code\s*base|library|package|service|" \
         r"app|application|framework|source|sources|code)\b)"


def named_repos(question: str, in_scope: list[str]) -> list[str]:
    """The repositories of `in_scope` the question names as such; empty when it names none, or all of them."""
    if len(in_scope) < 2:
        return []
    found = []
    for repo in in_scope:
        name = re.escape(repo)
        if len(repo) < 2:
            continue
        if re.search(rf"(?:{_BEFORE}{name}(?![\w/-])|(?<![\w./-]){name}{_AFTER})", question, re.IGNORECASE):
            found.append(repo)
    return found if len(found) < len(in_scope) else []


def question_repos(question: str, repos: list[str] | None, reader: IndexReader) -> list[str]:
    """The repositories the question names within `repos` (None: every indexed one); empty when it names none.
    One place for the search and the facts card, so both narrow alike."""
    in_scope = repos if repos is not None else [r.name for r in reader.manifest.repos()]
    return named_repos(question, in_scope)
