"""`dayone mcp`: the company's local index as tools for coding agents (MCP over stdio).

An agent on a new hire's machine (an IDE assistant) calls `search`, `symbol` (definition and references),
`ask` (a grounded answer from the local model) and `tour`, and gets the same repositories the person would see
in the web UI: the same access rules (settings.access, resolved for `--user`) are applied to every call. As in
the other commands, no `--user` means the local operator, who can read the index files anyway: unrestricted. The
index is opened on the first call and follows newly published generations; the model loads on the first `ask`.
Tools return JSON-able dicts; a failure the caller can fix (unknown or hidden repository, no index yet) is a
tool error with a one-line message, never a traceback.
"""

from __future__ import annotations

import threading

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from app.service import Service, UnknownRepository
from app.settings import Settings
from indexer.catalog.manifest import ManifestError
from indexer.reader import NoIndex
from indexer.store import StoreError

_INDEX_ERRORS = (NoIndex, ManifestError, StoreError)


class _Door:
    """The MCP caller's view of the Service: one user's scope, and failures turned into one-line tool errors."""

    def __init__(self, service: Service, user: str | None):
        self.service = service
        self.user = user
        self.lock = threading.Lock()  # tool calls one at a time, like the person's own questions

    def repos(self, requested: list[str] | None) -> list[str] | None:
        """The repositories a call may read: the requested ones if visible (a hidden one reads as missing, its
        name never confirmed), else all the user may read."""
        try:
            self.service.require_index()
            if not self.service.visible_repos(self.user):
                raise ToolError("no repository is visible to " + (f"user {self.user!r}" if self.user
                                                                   else "this user"))
            return self.service.scope(self.user, requested or None, strict=True)
        except UnknownRepository as exc:
            raise ToolError(f"no repository named {exc.name!r} (available: {', '.join(exc.visible) or 'none'})"
                            ) from None
        except _INDEX_ERRORS as exc:
            raise ToolError(str(exc)) from None


def build_server(settings: Settings, user: str | None = None) -> MCPServer:
    """The MCP server with its tools bound to `settings` and the access of `user`."""
    door = _Door(Service(settings), user)
    server = MCPServer(
        name="dayone",
        instructions="Search and explain the company's indexed code: `search` finds code by meaning or name, "
                     "`symbol` gives a name's definitions and references, `ask` answers a question with "
                     "citations, `tour` gives a repository's orientation. Locations are repo:path:line.",
    )

    @server.tool()
    def repositories() -> dict:
        """The indexed repositories this user can read, with the commit each was indexed at."""
        with door.lock:
            names = door.repos(None)
            return {"repositories": [{"name": r.name, "commit": r.commit, "files": r.files, "chunks": r.chunks}
                                     for r in door.service.repositories(names)]}

    @server.tool()
    def search(query: str, k: int = 10, repos: list[str] | None = None) -> dict:
        """Hybrid search (meaning + words + exact symbol names) over the indexed code; best hits first."""
        if not query.strip():
            raise ToolError("query is empty")
        with door.lock:
            hits = door.service.search(query, k=max(1, min(k, 50)), repos=door.repos(repos))
            return {"query": query, "hits": [{**h.to_json(), "location": f"{h.repo}:{h.path}:{h.start_line}"}
                                             for h in hits]}

    @server.tool()
    def symbol(name: str, repos: list[str] | None = None, max_references: int = 50) -> dict:
        """Where `name` (e.g. `pay` or `OrderService.pay`) is defined and where it is used."""
        if not name.strip():
            raise ToolError("name is empty")
        with door.lock:
            return door.service.symbol(name, repos=door.repos(repos), max_references=max_references)

    @server.tool()
    def ask(question: str, repos: list[str] | None = None) -> dict:
        """A grounded answer from the local model, with numbered citations to the code it used, and `facts`:
        definitions, callers, callees, tests and recent commits of the symbols it is about, read from the index."""
        from app.answer.chat_model import ModelError
        from app.answer.modelfiles import ModelFileError

        if not question.strip():
            raise ToolError("question is empty")
        with door.lock:
            names = door.repos(repos)
            try:
                *_pieces, answer = door.service.answer(question, repos=names)
            except (ModelError, ModelFileError, *_INDEX_ERRORS) as exc:
                raise ToolError(str(exc)) from None
            return answer.to_json()

    @server.tool()
    def tour(repo: str) -> dict:
        """Orientation for a repository: what it is, how to build/test/run it, entry points, where to start."""
        with door.lock:
            door.repos([repo])
            return door.service.tour(repo).to_json()

    server._dayone_service = door.service  # type: ignore[attr-defined] - closed by serve_stdio
    return server


def serve_stdio(settings: Settings, user: str | None = None) -> None:
    """Run the server on stdin/stdout until the client closes it."""
    server = build_server(settings, user)
    try:
        server.run("stdio")
    finally:
        server._dayone_service.close()  # type: ignore[attr-defined]


__all__ = ["build_server", "serve_stdio"]
