"""`dayone serve` (the chat in a browser, with the nightly reindex), `dayone mcp` (tools for coding agents) and
`dayone hash-password` (lines for the users file)."""

from __future__ import annotations

import contextlib
import sys
import threading
from typing import Annotated

import typer

from app.doors.cli.common import USER_ERRORS, ConfigOpt, app, err, fail, settings_from


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

    from app.answer.chat_model import ModelError
    from app.answer.modelfiles import ModelFileError
    from app.doors.web import auth_options, create_app, server_config, serving_access
    from app.reindex import ReindexScheduler
    from app.service import Service

    try:
        settings = settings_from(config)
        host = host or settings.serve.host
        port = port or settings.serve.port
        auth_options(settings, host, insecure_no_auth)  # refuse an unauthenticated public bind before loading
        service = Service(settings)
        with err.status("loading the model…") if err.is_terminal else contextlib.nullcontext():
            service.model  # noqa: B018 - load both now: a broken model fails here, not at the first question
            service.embedder  # noqa: B018
        web = create_app(service, host=host, insecure_no_auth=insecure_no_auth,
                         access=serving_access(settings, host))
        # The nightly reindex runs here when this process owns the embedded store; with a Qdrant server,
        # cron runs `dayone index --all` and this server picks up each new generation on the next question.
        scheduler = ReindexScheduler(settings, on_published=lambda _generation: service.after_reindex(),
                                     embedder=service.embedder)
    except (*USER_ERRORS, ModelError, ModelFileError) as exc:
        raise fail(str(exc)) from None
    status = service.status()
    where = f"{len(status.repos)} repositories, {status.chunks} chunks" if status.available else "no index yet"
    err.print(f"dayone: serving http://{host}:{port} ({where}); Ctrl+C stops", highlight=False)
    if not settings.store.qdrant_url:
        scheduler.start()
        if not status.available and settings.repos:  # day one: index the configured repositories first
            err.print(f"indexing {len(settings.repos)} configured repositories in the background…")
            threading.Thread(target=scheduler.run_now, name="dayone-first-index", daemon=True).start()
    try:
        uvicorn.Server(server_config(web, host, port)).run()
    except OSError as exc:
        raise fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
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
        raise fail("a user name must be non-empty and contain no ':'")
    password = typer.prompt("password", hide_input=True, confirmation_prompt=sys.stdin.isatty(), err=True)
    if not password:
        raise fail("an empty password is not allowed")
    sys.stdout.write(f"{name}:{PasswordHasher().hash(password)}\n")


@app.command()
def mcp(
    user: Annotated[str | None, typer.Option("--user", help="whose access rules apply (settings.access)")] = None,
    config: ConfigOpt = None,
) -> None:
    """Serve the index to coding agents over MCP (stdio): search, symbol, ask, tour, repositories."""
    from app.doors.mcp import serve_stdio

    try:
        settings = settings_from(config)
    except USER_ERRORS as exc:
        raise fail(str(exc)) from None
    serve_stdio(settings, user)
