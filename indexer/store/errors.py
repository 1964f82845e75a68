"""What can go wrong in a store, as types: callers decide by class, never by reading an engine's message."""

from __future__ import annotations


class StoreError(Exception):
    """A store failure worded for the user in one line; the engine's own error stays as __cause__."""


class StoreUnreachable(StoreError):
    """A Qdrant server did not answer: worth retrying (the nightly reindex backs off and tries again)."""


class StoreInUse(StoreError):
    """Another process holds the embedded index's lock: a second opener must wait or use a copy."""


class StoreFull(StoreError):
    """The disk (or a quota, or a file-size limit) ran out while the engine wrote."""


def one_line(exc: BaseException) -> str:
    """An engine error's first line, short enough to print as the user's one-line error."""
    text = str(exc).strip() or type(exc).__name__
    text = text.splitlines()[0].removeprefix("Service runtime error: ")
    return text if len(text) <= 300 else text[:297] + "..."
