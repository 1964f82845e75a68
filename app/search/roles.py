"""What a file is for: source, test, doc or example, from its path (and a chunk's kind).

Why one place: the ranking scales tests, docs and examples down unless a question asks for them
(app/search/retriever.py), and the doors show them apart from the code (the web Search tab, `dayone search`);
both must agree on what a test is.
"""

from __future__ import annotations

import re

DOC_KINDS = {"section", "text"}
_TEST_PATH = re.compile(r"(^|/)(tests?|testing|__tests__|spec|specs|test_utils)/|(^|/)test_[^/]*$|_test\.\w+$|"
                        r"\.(test|spec)\.\w+$|(^|/)conftest\.py$")
_EXAMPLE_PATH = re.compile(r"(^|/)(examples?|samples?|demo|docs_src|benchmarks?)/")
_DOC_PATH = re.compile(r"(^|/)(docs?|documentation)/|(^|/)(CHANGES|CHANGELOG|HISTORY|NEWS|History)[^/]*$|"
                       r"\.(md|rst|txt|adoc)$", re.IGNORECASE)


def path_role(path: str, kind: str = "") -> str:
    """What a file is for: 'source', 'test', 'doc' or 'example' (from its path and chunk kind)."""
    if _TEST_PATH.search(path):
        return "test"
    if kind in DOC_KINDS or _DOC_PATH.search(path):
        return "doc"
    if _EXAMPLE_PATH.search(path):
        return "example"
    return "source"


__all__ = ["DOC_KINDS", "path_role"]
