"""What every `dayone` command shares: the Typer app, the consoles, the errors a user can fix, the options.

Errors the user can fix (bad config, unreachable server, missing model, a busy index) print one line on
stderr and exit 2; `index` exits 1 when some repository failed while the others finished. Machine-readable
output (`--json`) goes to stdout alone; progress and messages go to stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from indexer.offline import enforce_offline

enforce_offline()

from app.settings import Settings, load_settings  # noqa: E402
from indexer.catalog.manifest import ManifestError  # noqa: E402
from indexer.embedding.dense import EmbeddingError  # noqa: E402
from indexer.pipeline.generations import IndexBusy  # noqa: E402
from indexer.reader import NoIndex  # noqa: E402
from indexer.settings import ConfigError  # noqa: E402
from indexer.sources import SourceError  # noqa: E402
from indexer.store import StoreError  # noqa: E402

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="dayone: learn a codebase from a local index and a local model.")
err = Console(stderr=True)
if not err.is_terminal:  # logs and CI captures: no wrapping at 80 columns, no live bars
    err = Console(stderr=True, width=160)
out = Console(soft_wrap=True)

USER_ERRORS = (ConfigError, SourceError, StoreError, IndexBusy, NoIndex, ManifestError, EmbeddingError)

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="dayone.toml to read (default: "
                                                "$DAYONE_CONFIG, ./dayone.toml, $DAYONE_HOME/dayone.toml)")]


UserOpt = Annotated[str | None, typer.Option("--user", "-u", help="apply this user's repository rights "
                                             "(\\[access] in dayone.toml)")]


def settings_from(config: Path | None) -> Settings:
    return load_settings(config)


def fail(message: str, code: int = 2) -> typer.Exit:
    """One line on stderr, never wrapped, so scripts and people read the same thing."""
    message = " ".join(str(message).split())
    if err.is_terminal:
        err.print(f"[bold red]error:[/] {message}", highlight=False, markup=True, soft_wrap=True)
    else:
        sys.stderr.write(f"error: {message}\n")
    return typer.Exit(code)


def progress_bars(*extra: ProgressColumn) -> Progress:
    """The one look of every long job's bars on stderr (index, tune): what, how far, how long, how long left."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), *extra, TimeElapsedColumn(),
                    TextColumn("eta"), TimeRemainingColumn(), console=err, transient=False)
