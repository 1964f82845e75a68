"""The `dayone` command: index repositories, search them, and show what the index holds.

Errors the user can fix (bad config, unreachable server, missing model, a busy index) print one line on
stderr and exit 2; `index` exits 1 when some repository failed while the others finished. Machine-readable
output (`--json`) goes to stdout alone; progress and messages go to stderr.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from indexer.offline import enforce_offline

enforce_offline()

from indexer.embedding import EmbeddingError  # noqa: E402
from indexer.generations import IndexBusy, IndexReader, NoIndex  # noqa: E402
from indexer.manifest import ManifestError  # noqa: E402
from indexer.settings import ConfigError, RepoConfig, Settings, load_settings  # noqa: E402
from indexer.sources import SourceError, repo_from_argument  # noqa: E402
from indexer.store import StoreError  # noqa: E402

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="dayone: learn a codebase from a local index and a local model.")
err = Console(stderr=True)
if not err.is_terminal:  # logs and CI captures: no wrapping at 80 columns, no live bars
    err = Console(stderr=True, width=160)
out = Console(soft_wrap=True)
from app.tune.cli import tune_app  # noqa: E402

app.add_typer(tune_app, name="tune")

USER_ERRORS = (ConfigError, SourceError, StoreError, IndexBusy, NoIndex, ManifestError, EmbeddingError)

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="dayone.toml to read (default: "
                                                "$DAYONE_CONFIG, ./dayone.toml, $DAYONE_HOME/dayone.toml)")]


UserOpt = Annotated[str | None, typer.Option("--user", "-u", help="apply this user's repository rights "
                                             "(\\[access] in dayone.toml)")]


def _settings(config: Path | None) -> Settings:
    return load_settings(config)


def _fail(message: str, code: int = 2) -> typer.Exit:
    """One line on stderr, never wrapped, so scripts and people read the same thing."""
    message = " ".join(str(message).split())
    if err.is_terminal:
        err.print(f"[bold red]error:[/] {message}", highlight=False, markup=True, soft_wrap=True)
    else:
        sys.stderr.write(f"error: {message}\n")
    return typer.Exit(code)


class _RichProgress:
    """Progress bars on stderr for the pipeline's files and chunks."""

    def __init__(self, console: Console):
        self.bars = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("eta"), TimeRemainingColumn(), console=console, transient=False,
        )
        self.tasks: dict[str, int] = {}

    def start(self, key: str, description: str, total: int) -> None:
        self.tasks[key] = self.bars.add_task(description, total=total)

    def advance(self, key: str, n: int = 1) -> None:
        if key in self.tasks:
            self.bars.advance(self.tasks[key], n)

    def finish(self, key: str) -> None:
        if key in self.tasks:
            task = self.tasks.pop(key)
            self.bars.update(task, completed=self.bars.tasks[task].total)

    def message(self, text: str) -> None:
        self.bars.console.print(text, highlight=False)


@app.command()
def index(
    targets: Annotated[list[str] | None, typer.Argument(help="repository paths or git URLs; default: the "
                                                        "repositories in dayone.toml")] = None,
    name: Annotated[str | None, typer.Option("--name", "-n", help="name for a single PATH_OR_URL")] = None,
    all_repos: Annotated[bool, typer.Option("--all", help="every configured and previously indexed repo")] = False,
    full: Annotated[bool, typer.Option("--full", help="rebuild from scratch instead of incrementally")] = False,
    no_fetch: Annotated[bool, typer.Option("--no-fetch", help="do not fetch git URLs, use the cache")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="list every skipped file")] = False,
    config: ConfigOpt = None,
) -> None:
    """Index repositories: only what changed since the last run is parsed and embedded."""
    from app.scheduler import index_with_retries, repo_log_line

    try:
        settings = _settings(config)
        repos = _select_repos(settings, targets or [], name, all_repos)
        progress = _RichProgress(err)
        # Retries (reindex.retries, backoff from reindex.backoff_s) only while a Qdrant server is unreachable.
        if err.is_terminal:
            with progress.bars:
                result = index_with_retries(settings, repos, full=full, fetch=not no_fetch, progress=progress,
                                            say=progress.message)
        else:
            result = index_with_retries(settings, repos, full=full, fetch=not no_fetch, progress=progress,
                                        say=progress.message)
    except USER_ERRORS as exc:
        raise _fail(str(exc)) from None
    except KeyboardInterrupt:
        raise _fail("interrupted; the previous index is still the published one", 130) from None
    if result.repos and len(result.failed) == len(result.repos) and len(result.repos) == 1:
        raise _fail(result.failed[0].error or "indexing failed")
    _print_summary(result, verbose)
    _refresh_summaries(settings, result)
    if all_repos:  # the cron entry: one greppable line per repository for the logs
        for r in result.repos:
            sys.stderr.write(repo_log_line(r) + "\n")
    if result.failed:
        for r in result.failed:
            sys.stderr.write(f"error: {' '.join((r.error or '').split())}\n")
        raise typer.Exit(1)


def _refresh_summaries(settings: Settings, result) -> None:  # noqa: ANN001 - RunResult, imported lazily
    """Model-written tour summaries for what changed (cached by content hash: unchanged items cost nothing).

    A missing or broken model only costs the summaries: the index is already published, so this warns.
    """
    changed = [r.name for r in result.repos if not r.error and (r.added or r.changed or r.deleted)]
    if not settings.tour.summaries or not result.generation or not changed:
        return
    from app.llm import ModelError
    from app.modelfiles import ModelFileError
    from app.summaries import refresh_summaries

    try:
        with IndexReader(settings) as reader, err.status("writing tour summaries…") if err.is_terminal \
                else contextlib.nullcontext():
            done = refresh_summaries(settings, reader, changed)
    except (*USER_ERRORS, ModelError, ModelFileError) as exc:
        err.print(f"[yellow]warning:[/] tour summaries skipped: {exc}", highlight=False)
        return
    err.print(f"tour summaries: {done.generated} written, {done.reused} reused, {done.failed} failed in "
              f"{done.seconds:.1f}s", highlight=False)


def _select_repos(settings: Settings, targets: list[str], name: str | None, all_repos: bool) -> list[RepoConfig]:
    if name and len(targets) != 1:
        raise ConfigError("--name needs exactly one PATH_OR_URL")
    if targets:
        configured = {r.name: r for r in settings.repos}
        picked = []
        for t in targets:
            if t in configured and not Path(t).exists():
                picked.append(configured[t])
            else:
                picked.append(repo_from_argument(t, name))
        return picked
    repos = list(settings.repos)
    if all_repos or not repos:
        known = _known_repos(settings)
        repos += [r for r in known if r.name not in {x.name for x in repos}]
    if not repos:
        raise ConfigError("no repositories to index: pass a PATH or git URL, or add [[repos]] to dayone.toml "
                          "(see examples/dayone.toml)")
    return repos


def _known_repos(settings: Settings) -> list[RepoConfig]:
    from app.scheduler import known_repos

    return known_repos(settings)  # from the manifest alone: no store opened, a down server does not hide repos


def _print_summary(result, verbose: bool) -> None:  # noqa: ANN001 - RunResult, imported lazily
    table = Table(title="dayone index", title_justify="left")
    for col in ("repo", "commit", "files", "added", "changed", "deleted", "chunks", "+/-", "skipped", "s"):
        table.add_column(col, justify="right" if col not in ("repo", "commit", "skipped") else "left")
    total_skips: Counter[str] = Counter()
    for r in result.repos:
        total_skips.update(r.skipped)
        if r.error:
            table.add_row(r.name, "", "", "", "", "", "", "", f"[red]failed: {r.error}[/]", "")
            continue
        skips = ", ".join(f"{k} {v}" for k, v in sorted(r.skipped.items())) or "-"
        table.add_row(r.name, (r.commit or "worktree")[:10], str(r.files), str(r.added), str(r.changed),
                      str(r.deleted), str(r.chunks_total), f"+{r.chunks_added}/-{r.chunks_removed}", skips,
                      f"{r.seconds:.1f}")
    err.print(table)
    if all(r.up_to_date for r in result.repos) and not result.full_rebuild_reason:
        err.print(f"index is up to date ({result.generation}); checked in {result.seconds:.2f}s")
    else:
        rate = result.chunks_embedded / result.embed_seconds if result.embed_seconds else 0.0
        err.print(
            f"published {result.generation} in {result.seconds:.1f}s: parse {result.parse_seconds:.1f}s, "
            f"embed {result.embed_seconds:.1f}s ({result.chunks_embedded} chunks, {rate:.0f}/s), "
            f"store {result.store_seconds:.1f}s", highlight=False)
    if verbose:
        for r in result.repos:
            for path, why in sorted(r.skipped_paths):
                err.print(f"  skipped {r.name}:{path} ({why})", highlight=False, markup=False)
    if total_skips:
        err.print("skipped files: " + ", ".join(f"{k} {v}" for k, v in sorted(total_skips.items())),
                  highlight=False)


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
    from app.access import repos_for
    from app.retrieval import Retriever
    from indexer.embedding import embedder_for

    if batch is not None:
        if query is not None:
            raise _fail("give either QUERY or --batch FILE, not both")
        _search_batch(batch, k, repo, lang, config, user)
        return
    if query is None:
        raise _fail("missing QUERY (or --batch FILE.jsonl)")
    try:
        settings = _settings(config)
        repos = repos_for(settings, user, repo)  # [] matches nothing: the store filter fails closed
        with IndexReader(settings) as reader:
            embedder = embedder_for(settings)
            hits = Retriever(reader, embedder, settings.search).search(query, k=k, repos=repos, languages=lang)
    except USER_ERRORS as exc:
        raise _fail(str(exc)) from None
    if as_json:
        sys.stdout.write(json.dumps({"query": query, "hits": [h.to_json() for h in hits]}, ensure_ascii=False))
        sys.stdout.write("\n")
        return
    if not hits:
        err.print("no results")
        return
    for i, h in enumerate(hits, 1):
        out.print(f"[bold]{i:>2}. {h.repo}:{h.path}:{h.start_line}-{h.end_line}[/]  {h.symbol or ''} "
                  f"[dim]({h.kind}, {h.language}, {h.score:.4f})[/]", highlight=False)
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

    def __init__(self, embedder, queries: list[str]) -> None:  # noqa: ANN001 - an indexer Embedder
        self._embedder = embedder
        unique = list(dict.fromkeys(queries))
        self._vectors = dict(zip(unique, embedder.embed_documents(unique), strict=True)) if unique else {}

    def embed_query(self, text: str):  # noqa: ANN201 - the embedder's vector type
        vector = self._vectors.get(text)
        return vector if vector is not None else self._embedder.embed_query(text)

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self._embedder, name)


def _search_batch(path: Path, k: int, repo: list[str] | None, lang: list[str] | None,
                  config: Path | None, user: str | None = None) -> None:
    """`search --batch`: one process and one loaded model for a whole evaluation set."""
    from app.access import repos_for
    from app.retrieval import Retriever
    from indexer.embedding import embedder_for

    try:
        settings = _settings(config)
        items = _read_batch(path)
        with IndexReader(settings) as reader:
            embedder = _BatchEmbedded(embedder_for(settings), [item["query"] for item in items])
            retriever = Retriever(reader, embedder, settings.search)
            for item in items:
                item_repo = item.get("repo")
                repos = [item_repo] if isinstance(item_repo, str) else item_repo or repo
                repos = repos_for(settings, user, repos)  # --user's rights apply to every line
                hits = retriever.search(item["query"], k=k, repos=repos, languages=lang)
                sys.stdout.write(json.dumps({"id": item.get("id"), "query": item["query"],
                                             "hits": [h.to_json() for h in hits]}, ensure_ascii=False) + "\n")
                sys.stdout.flush()
    except USER_ERRORS as exc:
        raise _fail(str(exc)) from None


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="a question about the indexed code")],
    repo: Annotated[list[str] | None, typer.Option("--repo", help="only this repository (repeatable)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print {question, answer, citations} as JSON")] = False,
    user: UserOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Answer a question from the index with the local model; the answer streams and cites its sources."""
    from rich.markup import escape

    from app.access import allowed_repos, repos_for, visible
    from app.answering import Answerer
    from app.llm import ModelError, load_chat_model
    from app.modelfiles import ModelFileError
    from app.repofiles import local_root
    from indexer.embedding import embedder_for

    try:
        settings = _settings(config)
        live = err.is_terminal and not as_json
        with err.status("loading the model…") if live else contextlib.nullcontext():
            model = load_chat_model(settings)  # a missing or broken model file fails here, before any work
        with IndexReader(settings) as reader:
            # A restricted user learns nothing about repositories they may not see, not even their names.
            known = [r.name for r in reader.manifest.repos()]
            if user is not None:
                known = visible(known, allowed_repos(settings, user))
            unknown = [r for r in repo or [] if r not in known]
            if unknown:
                raise ConfigError(f"no indexed repository is named {unknown[0]!r} (indexed: "
                                  f"{', '.join(known) or 'none'})")
            repos = repos_for(settings, user, repo)
            if repos is not None and not repos:
                raise ConfigError(f"user {user!r} may see no indexed repository (see [access] in dayone.toml)")
            embedder = embedder_for(settings)
            with err.status("searching and reading the sources…") if live else contextlib.nullcontext():
                stream = Answerer(reader, embedder, model, settings).ask(question, repos=repos)
                pieces = iter(stream)
                first = next(pieces, "")  # the prompt is evaluated before the first piece arrives
            if not as_json:
                for piece in itertools.chain([first], pieces):
                    sys.stdout.write(piece)
                    sys.stdout.flush()
                sys.stdout.write("\n")
            else:
                for _ in pieces:
                    pass
            answer = stream.answer
            roots = {r.name: local_root(settings, r.name, r.source) for r in reader.manifest.repos()}
    except (*USER_ERRORS, ModelError, ModelFileError) as exc:
        raise _fail(str(exc)) from None
    except KeyboardInterrupt:
        raise _fail("interrupted", 130) from None
    if as_json:
        sys.stdout.write(json.dumps(answer.to_json(), ensure_ascii=False) + "\n")
        return
    if answer.citations:
        out.print("\n[bold]Sources[/]", highlight=False)
        for number, src in zip(answer.cited_numbers, answer.citations, strict=True):
            location = f"{src.repo}:{src.path}:{src.start_line}-{src.end_line}"
            root = roots.get(src.repo)
            if root is not None and (root / src.path).is_file():
                location = f"[link={(root / src.path).as_uri()}]{location}[/link]"
            out.print(f" {escape(f'[{number}]')} {location}  [dim]{escape(src.symbol)}[/]", highlight=False)
    for flag in answer.flagged:
        what = "citation" if flag.kind == "citation" else "not in the index"
        err.print(f"[yellow]{what}:[/] {escape(flag.text)} ({escape(flag.reason)})", highlight=False)


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="print the status as JSON")] = False,
    config: ConfigOpt = None,
) -> None:
    """Show what the index holds: repositories, commits, when they were indexed, chunks."""
    try:
        settings = _settings(config)
        with IndexReader(settings) as reader:
            repos = reader.manifest.repos()
            defs, refs = reader.symbols.counts()
            assert reader.store is not None and reader.generation is not None
            info = {
                "home": str(settings.home),
                "generation": reader.generation.name,
                "store": settings.store.qdrant_url or f"qdrant-edge:{reader.generation.shard_path}",
                "build": reader.manifest.get_info("build_key"),
                "chunks": reader.store.count(),
                "definitions": defs,
                "references": refs,
                "repos": [
                    {"name": r.name, "source": r.source, "branch": r.branch, "commit": r.commit,
                     "indexed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(r.indexed_at)),
                     "files": r.files, "chunks": r.chunks, "skipped": r.skipped}
                    for r in repos
                ],
            }
    except USER_ERRORS as exc:
        raise _fail(str(exc)) from None
    if as_json:
        sys.stdout.write(json.dumps(info) + "\n")
        return
    table = Table(title=f"dayone index {info['generation']} ({info['chunks']} chunks, {defs} definitions, "
                  f"{refs} references)", title_justify="left")
    for col in ("repo", "branch", "commit", "indexed", "files", "chunks", "source"):
        table.add_column(col)
    for r in info["repos"]:
        table.add_row(r["name"], r["branch"] or "-", (r["commit"] or "worktree")[:10], r["indexed_at"],
                      str(r["files"]), str(r["chunks"]), r["source"])
    out.print(table)
    out.print(f"store: {info['store']}\nbuild: {info['build']}", highlight=False)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option("--host", help="address to listen on (default serve.host, "
                                             "127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option("--port", help="port (default serve.port, 7860)")] = None,
    insecure_no_auth: Annotated[bool, typer.Option("--insecure-no-auth", help="listen beyond loopback without "
                                                   "a login (only behind something else that authenticates)")] = False,
    config: ConfigOpt = None,
) -> None:
    """Serve the chat in a browser: streamed answers, their sources, filters and index status."""
    import uvicorn

    from app.chat import ChatService
    from app.llm import ModelError, load_chat_model
    from app.modelfiles import ModelFileError
    from app.scheduler import ReindexScheduler
    from app.ui import auth_options, create_app, serving_access
    from indexer.embedding import embedder_for

    try:
        settings = _settings(config)
        host = host or settings.serve.host
        port = port or settings.serve.port
        auth_options(settings, host, insecure_no_auth)  # refuse an unauthenticated public bind before loading
        with err.status("loading the model…") if err.is_terminal else contextlib.nullcontext():
            model = load_chat_model(settings)
            embedder = embedder_for(settings)
        service = ChatService(settings, model, embedder)
        web = create_app(service, host=host, insecure_no_auth=insecure_no_auth,
                         access=serving_access(settings, host))
        # The nightly reindex runs here when this process owns the embedded store; with a Qdrant server,
        # cron runs `dayone index --all` and this server picks up each new generation on the next question.
        scheduler = ReindexScheduler(settings, on_published=lambda _generation: service.after_reindex(),
                                     embedder=embedder)
    except (*USER_ERRORS, ModelError, ModelFileError) as exc:
        raise _fail(str(exc)) from None
    status = service.status()
    where = f"{len(status.repos)} repositories, {status.chunks} chunks" if status.available else "no index yet"
    err.print(f"dayone: serving http://{host}:{port} ({where}); Ctrl+C stops", highlight=False)
    if not settings.store.qdrant_url:
        scheduler.start()
        if not status.available and settings.repos:  # day one: index the configured repositories first
            err.print(f"indexing {len(settings.repos)} configured repositories in the background…")
            threading.Thread(target=scheduler.run_now, name="dayone-first-index", daemon=True).start()
    try:
        uvicorn.run(web, host=host, port=port, log_level="warning")
    except OSError as exc:
        raise _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    finally:
        scheduler.stop(timeout=5)
        service.close()


@app.command("hash-password")
def hash_password(
    name: Annotated[str, typer.Argument(help="the user's login name")],
) -> None:
    """Print a `NAME:HASH` line (argon2id) for serve.users_file; the password is read without echo."""
    from argon2 import PasswordHasher

    if ":" in name or not name.strip():
        raise _fail("a user name must be non-empty and contain no ':'")
    password = typer.prompt("password", hide_input=True, confirmation_prompt=sys.stdin.isatty(), err=True)
    if not password:
        raise _fail("an empty password is not allowed")
    sys.stdout.write(f"{name}:{PasswordHasher().hash(password)}\n")


@app.command()
def tour(
    repo: Annotated[str, typer.Argument(help="an indexed repository's name (see `dayone status`)")],
    as_json: Annotated[bool, typer.Option("--json", help="print the tour as JSON")] = False,
    refresh: Annotated[bool, typer.Option("--refresh-summaries", help="first write the model summaries this "
                                          "repository lacks (normally done after `dayone index`)")] = False,
    config: ConfigOpt = None,
) -> None:
    """A tour of an indexed repository: what it is, how to build/test/run it, entry points, where to start."""
    from app.llm import ModelError
    from app.modelfiles import ModelFileError
    from app.summaries import refresh_summaries
    from app.tour import build_tour

    try:
        settings = _settings(config)
        with IndexReader(settings) as reader:
            if repo not in {r.name for r in reader.manifest.repos()}:
                known = ", ".join(r.name for r in reader.manifest.repos()) or "none"
                raise ConfigError(f"no indexed repository is named {repo!r} (indexed: {known})")
            if refresh and settings.tour.summaries:
                done = refresh_summaries(settings, reader, [repo],
                                         progress=lambda line: err.print(line, highlight=False, markup=False))
                err.print(f"summaries: {done.generated} written, {done.reused} reused, {done.failed} failed in "
                          f"{done.seconds:.1f}s", highlight=False)
            result = build_tour(settings, reader, repo)
    except (*USER_ERRORS, ModelError, ModelFileError) as exc:
        raise _fail(str(exc)) from None
    if as_json:
        sys.stdout.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
        return
    sys.stdout.write(result.to_text())


@app.command()
def mcp(
    user: Annotated[str | None, typer.Option("--user", help="whose access rules apply (settings.access)")] = None,
    config: ConfigOpt = None,
) -> None:
    """Serve the index to coding agents over MCP (stdio): search, symbol, ask, tour, repositories."""
    from app.mcp_server import serve_stdio

    try:
        settings = _settings(config)
    except USER_ERRORS as exc:
        raise _fail(str(exc)) from None
    serve_stdio(settings, user)

@app.command(name="eval")
def eval_retrieval(
    repo: Annotated[list[str] | None, typer.Option("--repo", help="only this pinned repository (repeatable)")] = None,
    baselines: Annotated[bool, typer.Option(help="also run BM25 over files and plain llama-index")] = True,
    ablation: Annotated[bool, typer.Option(help="also rank with each signal switched off")] = False,
    questions: Annotated[Path | None, typer.Option("--questions", help="folder with sources.json and "
                                                   "*.jsonl (default: the repository's eval/)")] = None,
    show_misses: Annotated[bool, typer.Option("--misses", help="list the questions each system misses at 5")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the rows as JSON")] = False,
    config: ConfigOpt = None,
) -> None:
    """Measure retrieval on pinned real codebases against BM25 and llama-index; prints the table."""
    from app import evaluation as ev

    def log(text: str) -> None:
        err.print(text, highlight=False, markup=False)

    try:
        settings = _settings(config)
        qs, roots, spans = ev.prepare(settings, questions or ev.EVAL_DIR, repo, log)
        results = [ev.run_ours(settings, qs, spans)]
        if ablation:
            for name, options in ev._ablations().items():
                results.append(ev.run_ours(settings, qs, spans, name=name, ranking_options=options))
        if baselines:
            corpora = {r: ev.indexed_files(settings, r, roots[r]) for r in sorted({q.repo for q in qs})}
            results.append(ev.run_bm25(qs, spans, corpora))
            results.append(ev.run_llamaindex(settings, qs, spans, corpora, log))
    except (*USER_ERRORS, ev.EvalError) as exc:
        raise _fail(str(exc)) from None
    rows = ev.table(results, qs)
    if as_json:
        sys.stdout.write(json.dumps([dict(zip(ev.HEADER, r, strict=True)) for r in rows]) + "\n")
    else:
        out.print(ev.format_table(rows), highlight=False, markup=False)
    if show_misses:
        for res in results:
            err.print(f"{res.name} misses at 5: {' '.join(ev.misses(res, qs)) or '-'}", highlight=False)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()


if __name__ == "__main__":
    main()
