"""`dayone index`: the progress bars, the run with its retries, the summary table and the cron log lines."""

from __future__ import annotations

import contextlib
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from app.doors.cli.common import USER_ERRORS, ConfigOpt, app, err, fail, progress_bars, settings_from
from app.service import Service
from app.settings import Settings
from indexer.settings import ConfigError, RepoConfig
from indexer.sources import repo_from_argument


class _RichProgress:
    """Progress bars on stderr for the pipeline's files and chunks."""

    def __init__(self) -> None:
        self.bars = progress_bars()
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
    from app.reindex import index_with_retries, repo_log_line

    try:
        settings = settings_from(config)
        repos = _select_repos(settings, targets or [], name, all_repos)
        progress = _RichProgress()
        # Retries (reindex.retries, backoff from reindex.backoff_s) only while a Qdrant server is unreachable.
        if err.is_terminal:
            with progress.bars:
                result = index_with_retries(settings, repos, full=full, fetch=not no_fetch, progress=progress,
                                            say=progress.message)
        else:
            result = index_with_retries(settings, repos, full=full, fetch=not no_fetch, progress=progress,
                                        say=progress.message)
    except USER_ERRORS as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        raise fail("interrupted; the previous index is still the published one", 130) from None
    if result.repos and len(result.failed) == len(result.repos) and len(result.repos) == 1:
        raise fail(result.failed[0].error or "indexing failed")
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
    from app.answer.chat_model import ModelError
    from app.answer.modelfiles import ModelFileError

    service = Service(settings)
    try:
        with err.status("writing tour summaries…") if err.is_terminal else contextlib.nullcontext():
            done = service.refresh_summaries(changed)
    except (*USER_ERRORS, ModelError, ModelFileError) as exc:
        err.print(f"[yellow]warning:[/] tour summaries skipped: {exc}", highlight=False)
        return
    finally:
        service.close()
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
    from app.reindex import known_repos

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
