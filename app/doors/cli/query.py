"""`dayone search`, `ask`, `status` and `tour`: reading the index through the one Service, printed for people or
as JSON for tools."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from app.doors.cli.common import USER_ERRORS, ConfigOpt, UserOpt, app, err, fail, out, settings_from
from app.service import Service, UnknownRepository
from indexer.settings import ConfigError


@app.command()
def search(
    query: Annotated[str | None, typer.Argument(help="a question, a description, or a name")] = None,
    k: Annotated[int, typer.Option("-k", min=1, max=200, help="number of hits")] = 10,
    repo: Annotated[list[str] | None, typer.Option("--repo", help="only this repository (repeatable)")] = None,
    lang: Annotated[list[str] | None, typer.Option("--lang", help="only this language (repeatable)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print {query, hits} as JSON")] = False,
    batch: Annotated[Path | None, typer.Option("--batch", help="JSONL of {id, query, repo?} ('-': stdin): one "
                                               "JSON line {id, query, hits} per query, in one process")] = None,
    user: UserOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Search the index: hybrid dense + BM25 + exact symbol names, at most two hits per file."""
    if batch is not None:
        if query is not None:
            raise fail("give either QUERY or --batch FILE, not both")
        _search_batch(batch, k, repo, lang, config, user)
        return
    if query is None:
        raise fail("missing QUERY (or --batch FILE.jsonl)")
    try:
        service = Service(settings_from(config))
        try:
            service.require_index()
            # [] matches nothing: the store filter fails closed; a --repo name the user cannot read is an error,
            # as for `ask` (it printed "no results" before, as if the repository held nothing relevant)
            hits = service.search(query, k=k, repos=service.scope(user, repo, strict=True), languages=lang)
        finally:
            service.close()
    except (*USER_ERRORS, UnknownRepository) as exc:
        raise fail(str(exc)) from None
    if as_json:
        sys.stdout.write(json.dumps({"query": query, "hits": [h.to_json() for h in hits]}, ensure_ascii=False))
        sys.stdout.write("\n")
        return
    if not hits:
        err.print("no results")
        return
    for i, h in enumerate(hits, 1):
        role = h.role  # a test or doc hit says so: it is how the code is used, not the code
        out.print(f"[bold]{i:>2}. {h.repo}:{h.path}:{h.start_line}-{h.end_line}[/]  {h.symbol or ''} "
                  f"[dim]({h.kind}, {h.language}{'' if role == 'source' else ', ' + role}, {h.score:.4f})[/]",
                  highlight=False)
        snippet = h.text.strip().splitlines()[:3]
        for line in snippet:
            out.print("      " + line[:140], highlight=False, markup=False)


def _read_batch(path: Path) -> list[dict]:
    """Every line checked before any search runs, so a bad line costs nothing and names its line number."""
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    items = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError:
            raise ConfigError(f"{path}:{n}: not a JSON object") from None
        if not isinstance(item, dict) or not isinstance(item.get("query"), str) or not item["query"].strip():
            raise ConfigError(f"{path}:{n}: needs a non-empty string \"query\"")
        repo = item.get("repo")
        if repo is not None and not (isinstance(repo, str) or
                                     (isinstance(repo, list) and all(isinstance(r, str) for r in repo))):
            raise ConfigError(f"{path}:{n}: \"repo\" must be a string or a list of strings")
        items.append(item)
    return items


class _BatchEmbedded:
    """The embedder with every batch query embedded in one pass: a thousand queries cost one model run."""

    def __init__(self, embedder: Any, queries: list[str]) -> None:
        self._embedder = embedder
        unique = list(dict.fromkeys(queries))
        self._vectors = dict(zip(unique, embedder.embed_documents(unique), strict=True)) if unique else {}

    def embed_query(self, text: str) -> Any:
        vector = self._vectors.get(text)
        return vector if vector is not None else self._embedder.embed_query(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._embedder, name)


def _search_batch(path: Path, k: int, repo: list[str] | None, lang: list[str] | None,
                  config: Path | None, user: str | None = None) -> None:
    """`search --batch`: one process and one loaded model for a whole evaluation set."""
    from indexer.embedding.dense import embedder_for

    try:
        settings = settings_from(config)
        items = _read_batch(path)
        # Queries are searched as written (stripped), so their vectors are computed once, up front.
        queries = [item["query"].strip() for item in items]
        service = Service(settings, embedder=_BatchEmbedded(embedder_for(settings), queries))
        try:
            service.require_index()
            for item, query in zip(items, queries, strict=True):
                item_repo = item.get("repo")
                repos = [item_repo] if isinstance(item_repo, str) else item_repo or repo
                hits = service.search(query, k=k, repos=service.scope(user, repos), languages=lang)
                sys.stdout.write(json.dumps({"id": item.get("id"), "query": item["query"],
                                             "hits": [h.to_json() for h in hits]}, ensure_ascii=False) + "\n")
                sys.stdout.flush()
        finally:
            service.close()
    except USER_ERRORS as exc:
        raise fail(str(exc)) from None


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="a question about the indexed code")],
    repo: Annotated[list[str] | None, typer.Option("--repo", help="only this repository (repeatable)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print {question, answer, citations, facts} as JSON")] = False,
    user: UserOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Answer a question from the index with the local model; the answer streams and cites its sources."""
    from rich.markup import escape

    from app.answer.chat_model import ModelError
    from app.answer.facts import FactsCard
    from app.answer.modelfiles import ModelFileError
    from app.answer.results import Answer

    try:
        settings = settings_from(config)
        live = err.is_terminal and not as_json
        service = Service(settings)
        try:
            with err.status("loading the model…") if live else contextlib.nullcontext():
                service.model  # noqa: B018 - a missing or broken model file fails here, before any work
            # A restricted user learns nothing about repositories they may not see, not even their names.
            repos = service.scope(user, repo, strict=True)
            if repos is not None and not repos:
                raise ConfigError(f"user {user!r} may see no indexed repository (see [access] in dayone.toml)")
            pieces = service.answer(question, repos=repos)
            with err.status("searching the index…") if live else contextlib.nullcontext():
                card = next(pieces)  # the facts card: read from the index before the model runs
            if not as_json and isinstance(card, FactsCard) and card.symbols:
                out.print("[bold]From the index[/] [dim](not generated)[/]", highlight=False)
                out.print(escape(card.to_text()), highlight=False)
                out.print("", highlight=False)
                sys.stdout.flush()
            with err.status("reading the sources…") if live else contextlib.nullcontext():
                first = next(pieces)  # the prompt is evaluated before the first piece arrives
            # A terminal reads the text as it is written; piped (a file, another program) nobody watches it
            # arrive, so the checked text goes out instead: paths corrected, example copies removed, citations
            # numbered as the sources below
            streamed = not as_json and sys.stdout.isatty()
            answer: Answer | None = None
            for piece in (first, *pieces) if not isinstance(first, Answer) else (first,):
                if isinstance(piece, Answer):
                    answer = piece
                elif streamed and isinstance(piece, str):
                    sys.stdout.write(piece)
                    sys.stdout.flush()
            assert answer is not None
            if not as_json:
                sys.stdout.write(("" if streamed else answer.text) + "\n")
            roots = service.local_roots()
        finally:
            service.close()
    except (*USER_ERRORS, UnknownRepository, ModelError, ModelFileError) as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        raise fail("interrupted", 130) from None
    if as_json:
        sys.stdout.write(json.dumps(answer.to_json(), ensure_ascii=False) + "\n")
        return
    if answer.citations:
        out.print("\n[bold]Sources[/]", highlight=False)
        numbers = answer.cited_numbers if streamed else range(1, len(answer.citations) + 1)
        for number, src in zip(numbers, answer.citations, strict=True):
            location = f"{src.repo}:{src.path}:{src.start_line}-{src.end_line}"
            root = roots.get(src.repo)
            if root is not None and (root / src.path).is_file():
                location = f"[link={(root / src.path).as_uri()}]{location}[/link]"
            out.print(f" {escape(f'[{number}]')} {location}  [dim]{escape(src.symbol)}[/]", highlight=False)
    for flag in answer.flagged:
        what = {"citation": "citation", "corrected": "path corrected",
                "example": "copied from the prompt's example"}.get(flag.kind, "not in the index")
        err.print(f"[yellow]{what}:[/] {escape(flag.text)} ({escape(flag.reason)})", highlight=False)


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="print the status as JSON")] = False,
    user: UserOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Show what the index holds: repositories, commits, when they were indexed, chunks."""
    try:
        settings = settings_from(config)
        service = Service(settings)
        try:
            service.require_index()
            state = service.status(service.scope(user))
        finally:
            service.close()
    except USER_ERRORS as exc:
        raise fail(str(exc)) from None
    info = state.to_json(str(settings.home))
    if as_json:
        sys.stdout.write(json.dumps(info) + "\n")
        return
    table = Table(title=f"dayone index {info['generation']} ({info['chunks']} chunks, {info['definitions']} "
                  f"definitions, {info['references']} references)", title_justify="left")
    for col in ("repo", "branch", "commit", "indexed", "files", "chunks", "source"):
        table.add_column(col)
    for r in info["repos"]:
        table.add_row(r["name"], r["branch"] or "-", (r["commit"] or "worktree")[:10], r["indexed_at"],
                      str(r["files"]), str(r["chunks"]), r["source"])
    out.print(table)
    out.print(f"store: {info['store']}\nbuild: {info['build']}", highlight=False)


@app.command()
def tour(
    repo: Annotated[str, typer.Argument(help="an indexed repository's name (see `dayone status`)")],
    as_json: Annotated[bool, typer.Option("--json", help="print the tour as JSON")] = False,
    refresh: Annotated[bool, typer.Option("--refresh-summaries", help="first write the model summaries this "
                                          "repository lacks (normally done after `dayone index`)")] = False,
    user: UserOpt = None,
    config: ConfigOpt = None,
) -> None:
    """A tour of an indexed repository: what it is, how to build/test/run it, entry points, where to start."""
    from app.answer.chat_model import ModelError
    from app.answer.modelfiles import ModelFileError

    try:
        settings = settings_from(config)
        service = Service(settings)
        try:
            service.require_index()
            service.scope(user, [repo], strict=True)
            if refresh and settings.tour.summaries:
                done = service.refresh_summaries(
                    [repo], progress=lambda line: err.print(line, highlight=False, markup=False))
                err.print(f"summaries: {done.generated} written, {done.reused} reused, {done.failed} failed in "
                          f"{done.seconds:.1f}s", highlight=False)
            result = service.tour(repo)
        finally:
            service.close()
    except (*USER_ERRORS, UnknownRepository, ModelError, ModelFileError) as exc:
        raise fail(str(exc)) from None
    if as_json:
        sys.stdout.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
        return
    sys.stdout.write(result.to_text())
