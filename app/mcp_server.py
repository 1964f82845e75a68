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
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from indexer.generations import IndexReader, NoIndex
from indexer.manifest import ManifestError
from indexer.settings import Settings
from indexer.store import StoreError

try:  # app/access.py (the web UI's access rules) replaces the stand-in below when it is present
    from app.access import allowed_repos
except ImportError:  # pragma: no cover - depends on which branches are merged

    def allowed_repos(settings: Settings, user: str | None) -> list[str] | None:
        """Repositories `user` may see; None = unrestricted. Stand-in until app/access.py exists.

        No groups configured: everyone sees everything. Otherwise a user sees the repositories of their groups
        ("*" = all) and an unknown or anonymous user sees none.
        """
        access = settings.access
        if not access.groups:
            return None
        repos: list[str] = []
        for group in access.users.get(user or "", []):
            members = access.groups.get(group, [])
            if "*" in members:
                return None
            repos += [r for r in members if r not in repos]
        return repos


class _Backend:
    """The index, embedder and model, opened on first use and shared by the tool calls (one at a time)."""

    def __init__(self, settings: Settings, user: str | None):
        self.settings = settings
        self.user = user
        self.lock = threading.Lock()
        self._reader: IndexReader | None = None
        self._embedder: Any = None
        self._model: Any = None

    def reader(self) -> IndexReader:
        try:
            if self._reader is None:
                self._reader = IndexReader(self.settings)
            else:
                self._reader.refresh()
        except (NoIndex, ManifestError, StoreError) as exc:
            raise ToolError(str(exc)) from None
        return self._reader

    def embedder(self) -> Any:
        if self._embedder is None:
            from indexer.embedding import embedder_for

            self._embedder = embedder_for(self.settings)
        return self._embedder

    def model(self) -> Any:
        if self._model is None:
            from app.llm import ModelError, load_chat_model
            from app.modelfiles import ModelFileError

            try:
                self._model = load_chat_model(self.settings)
            except (ModelError, ModelFileError) as exc:
                raise ToolError(str(exc)) from None
        return self._model

    def repos(self, requested: list[str] | None) -> list[str]:
        """The repositories a call may read: the requested ones if visible, else all visible ones."""
        indexed = [r.name for r in self.reader().manifest.repos()]
        allowed = None if self.user is None else allowed_repos(self.settings, self.user)
        visible = indexed if allowed is None else [r for r in indexed if r in allowed]
        if not requested:
            if not visible:
                raise ToolError("no repository is visible to " + (f"user {self.user!r}" if self.user
                                                                   else "this user"))
            return visible
        for name in requested:
            if name not in visible:
                # A hidden repository reads the same as a missing one: its name is not disclosed as existing.
                raise ToolError(f"no repository named {name!r} (available: {', '.join(visible) or 'none'})")
        return list(requested)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()


def build_server(settings: Settings, user: str | None = None) -> MCPServer:
    """The MCP server with its tools bound to `settings` and the access of `user`."""
    backend = _Backend(settings, user)
    server = MCPServer(
        name="dayone",
        instructions="Search and explain the company's indexed code: `search` finds code by meaning or name, "
                     "`symbol` gives a name's definitions and references, `ask` answers a question with "
                     "citations, `tour` gives a repository's orientation. Locations are repo:path:line.",
    )

    @server.tool()
    def repositories() -> dict:
        """The indexed repositories this user can read, with the commit each was indexed at."""
        with backend.lock:
            visible = set(backend.repos(None))
            return {"repositories": [{"name": r.name, "commit": r.commit, "files": r.files, "chunks": r.chunks}
                                     for r in backend.reader().manifest.repos() if r.name in visible]}

    @server.tool()
    def search(query: str, k: int = 10, repos: list[str] | None = None) -> dict:
        """Hybrid search (meaning + words + exact symbol names) over the indexed code; best hits first."""
        from app.retrieval import Retriever

        if not query.strip():
            raise ToolError("query is empty")
        with backend.lock:
            names = backend.repos(repos)
            hits = Retriever(backend.reader(), backend.embedder(), settings.search).search(
                query, k=max(1, min(k, 50)), repos=names)
            return {"query": query, "hits": [{**h.to_json(), "location": f"{h.repo}:{h.path}:{h.start_line}"}
                                             for h in hits]}

    @server.tool()
    def symbol(name: str, repos: list[str] | None = None, max_references: int = 50) -> dict:
        """Where `name` (e.g. `pay` or `OrderService.pay`) is defined and where it is used."""
        if not name.strip():
            raise ToolError("name is empty")
        with backend.lock:
            names = backend.repos(repos)
            table = backend.reader().symbols
            definitions = table.definitions(name, names)
            short = name.rsplit(".", 1)[-1]
            refs = table.references(short, names)
            return {
                "name": name,
                "definitions": [{"repo": d.repo, "path": d.path, "qualified_name": d.qualified_name,
                                 "kind": d.kind, "start_line": d.start_line, "end_line": d.end_line,
                                 "location": f"{d.repo}:{d.path}:{d.start_line}"} for d in definitions],
                "references": [{"repo": r[0], "path": r[1], "kind": r[2], "line": r[3],
                                "location": f"{r[0]}:{r[1]}:{r[3]}"} for r in refs[:max(0, max_references)]],
                "references_total": len(refs),
            }

    @server.tool()
    def ask(question: str, repos: list[str] | None = None) -> dict:
        """A grounded answer from the local model, with numbered citations to the code it used."""
        from app.answering import Answerer

        if not question.strip():
            raise ToolError("question is empty")
        with backend.lock:
            names = backend.repos(repos)
            stream = Answerer(backend.reader(), backend.embedder(), backend.model(), settings).ask(
                question, repos=names)
            for _ in stream:
                pass
            return stream.answer.to_json()

    @server.tool()
    def tour(repo: str) -> dict:
        """Orientation for a repository: what it is, how to build/test/run it, entry points, where to start."""
        from app.tour import build_tour

        with backend.lock:
            backend.repos([repo])
            return build_tour(settings, backend.reader(), repo).to_json()

    server._dayone_backend = backend  # type: ignore[attr-defined] - closed by serve_stdio
    return server


def serve_stdio(settings: Settings, user: str | None = None) -> None:
    """Run the server on stdin/stdout until the client closes it."""
    server = build_server(settings, user)
    try:
        server.run("stdio")
    finally:
        server._dayone_backend.close()  # type: ignore[attr-defined]


__all__ = ["allowed_repos", "build_server", "serve_stdio"]
