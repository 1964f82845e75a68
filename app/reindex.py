"""The nightly reindex: `dayone index --all` from cron, or a `ReindexScheduler` thread inside `dayone serve`.

Both run the same code (`index_with_retries`): every configured and previously indexed repository, one log line
per repository, and retries with exponential backoff while a Qdrant server is unreachable, because a nightly run
that gives up on the first refused connection leaves the company on yesterday's index for a whole day. A
repository that fails for another reason (a git host that refuses the key) is not retried: trying again would
only fail again, and it would delay the others.

Serving never sees a half-built index: the pipeline builds a new generation and publishes it atomically (see
indexer/pipeline/generations.py), and the scheduler only tells the server afterwards (`on_published`), so it can call
`IndexReader.refresh()`.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from croniter import croniter

from app.settings import Settings, load_settings
from indexer.catalog.manifest import Manifest, ManifestError, connect
from indexer.pipeline.generations import IndexBusy, IndexDir
from indexer.settings import ConfigError, RepoConfig
from indexer.store import StoreError, StoreUnreachable

if TYPE_CHECKING:
    from indexer.embedding.dense import Embedder
    from indexer.pipeline.run import Progress, RepoResult, RunResult

log = logging.getLogger(__name__)

# indexer/store/ words every connection failure of a Qdrant server this way ("Qdrant server at URL is
# unreachable: ..."); the pipeline keeps only the text of a repository's error, so the text is what we match.
def parse_schedule(expression: str) -> str | None:
    """The cron expression to run on, None when the schedule is off; ConfigError (one line) when it is invalid.

    Five fields (minute hour day month weekday) as in crontab; a sixth field for seconds is accepted too.
    Checked at start-up, so a typo stops `dayone serve` at once instead of silently never reindexing.
    """
    expression = " ".join(expression.split())
    if not expression:
        return None
    if not croniter.is_valid(expression):
        raise ConfigError(f"reindex.schedule: {expression!r} is not a valid cron expression "
                          "(five fields: minute hour day month weekday, e.g. \"0 2 * * *\" for 02:00 every day)")
    return expression


def next_run(expression: str, after: datetime) -> datetime:
    """When a schedule fires next, strictly after `after` (in `after`'s time zone)."""
    return croniter(expression, after).get_next(datetime)


def is_unreachable(failure: BaseException | RepoResult | None) -> bool:
    """Whether a failure is a Qdrant server that could not be reached (worth retrying), not one that refused."""
    if isinstance(failure, BaseException):
        return isinstance(failure, StoreUnreachable)
    return failure is not None and failure.unreachable


def known_repos(settings: Settings) -> list[RepoConfig]:
    """The repositories the published index holds, as they were configured when indexed.

    Reads the published manifest alone, never the store: it works while `dayone serve` holds the embedded
    shard and while a Qdrant server is down (the run that follows reports that, and retries).
    """
    gen = IndexDir(settings.index_dir).current()
    if gen is None:
        return []
    try:
        conn = connect(gen.manifest_path, readonly=True)
        try:
            return [RepoConfig(**r.config) for r in Manifest(conn).repos()]
        finally:
            conn.close()
    except ManifestError:
        return []  # the run itself detects the broken manifest and rebuilds


def repos_for_all(settings: Settings) -> list[RepoConfig]:
    """What `dayone index --all` indexes: the repositories in dayone.toml, then every one indexed before."""
    repos = list(settings.repos)
    names = {r.name for r in repos}
    return repos + [r for r in known_repos(settings) if r.name not in names]


def repo_log_line(rr: RepoResult) -> str:
    """One greppable line per repository for cron logs and `docker logs`."""
    stamp = datetime.now().astimezone().strftime("%Y-%m-%dT%H:%M:%S%z")
    if rr.error:
        reason = " ".join(rr.error.split())
        return f"{stamp} reindex repo={rr.name} status=failed seconds={rr.seconds:.1f} error={reason}"
    status = "unchanged" if rr.up_to_date else "ok"
    return (f"{stamp} reindex repo={rr.name} status={status} files_changed={rr.added + rr.changed + rr.deleted} "
            f"files={rr.files} chunks={rr.chunks_total} chunks_added={rr.chunks_added} "
            f"chunks_removed={rr.chunks_removed} seconds={rr.seconds:.1f} commit={(rr.commit or 'worktree')[:12]}")


def _merge(into: RunResult | None, new: RunResult) -> RunResult:
    if into is None:
        return new
    by_name = {r.name: i for i, r in enumerate(into.repos)}
    for rr in new.repos:
        if rr.name in by_name:
            into.repos[by_name[rr.name]] = rr
        else:
            into.repos.append(rr)
    into.generation = new.generation or into.generation
    into.full_rebuild_reason = into.full_rebuild_reason or new.full_rebuild_reason
    into.seconds += new.seconds
    into.parse_seconds += new.parse_seconds
    into.embed_seconds += new.embed_seconds
    into.store_seconds += new.store_seconds
    into.chunks_embedded += new.chunks_embedded
    return into


def index_with_retries(
    settings: Settings,
    repos: Sequence[RepoConfig],
    *,
    full: bool = False,
    fetch: bool = True,
    embedder: Embedder | None = None,
    progress: Progress | None = None,
    say: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> RunResult:
    """One index run that retries, with exponential backoff, what failed because the Qdrant server was away.

    `reindex.retries` is the number of attempts; waits are backoff_s, 2 x backoff_s, 4 x backoff_s, ... A server
    that is down from the start fails the whole attempt (StoreError), and all repositories are tried again; one
    that goes away mid-run fails only the repositories not finished yet (the others are published), and only
    those are tried again. When attempts run out, the StoreError (server down throughout) propagates, or the
    result lists the repositories that failed, so the caller exits non-zero.
    """
    from indexer.pipeline.run import Indexer

    say = say or log.warning
    attempts = settings.reindex.retries
    indexer = Indexer(settings, embedder=embedder, progress=progress)  # one model load for all attempts
    pending = list(repos)
    merged: RunResult | None = None
    started = time.monotonic()
    for attempt in range(1, attempts + 1):
        try:
            # A full rebuild asked for stays full until something was published; after that only the
            # repositories that failed are tried again, on top of what this call already built.
            result = indexer.run(pending, full=full and merged is None, fetch=fetch)
        except StoreError as exc:
            if not is_unreachable(exc):
                raise
            if attempt == attempts:
                gave_up = f"{exc} (gave up after {attempts} attempts in {time.monotonic() - started:.0f}s)"
                if merged is None:
                    raise StoreUnreachable(gave_up) from exc
                # An earlier attempt published the repositories it finished: report those as done and the
                # ones still pending as failed, so the caller logs every repository and exits 1.
                for rr in merged.repos:
                    if rr.name in {r.name for r in pending}:
                        rr.error, rr.unreachable = gave_up, True
                break
            wait = settings.reindex.backoff_s * 2 ** (attempt - 1)
            say(f"{exc}; retrying in {wait:g}s (attempt {attempt + 1} of {attempts})")
            sleep(wait)
            continue
        merged = _merge(merged, result)
        again = {r.name for r in result.failed if is_unreachable(r)}
        retry = [r for r in pending if r.name in again]
        if not retry or attempt == attempts:
            break
        wait = settings.reindex.backoff_s * 2 ** (attempt - 1)
        say(f"the Qdrant server went away during the run ({', '.join(sorted(again))} not indexed); "
            f"retrying those in {wait:g}s (attempt {attempt + 1} of {attempts})")
        sleep(wait)
        pending = retry
    assert merged is not None
    return merged


def _stderr_line(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


class ReindexScheduler:
    """Runs the reindex on `reindex.schedule` in a background thread of the serving process.

    Meant for `dayone serve` with the embedded store, which one process owns: a cron job in another container
    could build the index, but the server would not know when to reopen it. `on_published(generation_name)` is
    called after a run published a new generation (not after a run that found nothing changed); the server
    calls `IndexReader.refresh()` there. Runs never overlap: the thread and `run_now()` share one lock, and the
    index's writer lock keeps out a `dayone index` started by hand (that fire is skipped and logged).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        on_published: Callable[[str], None] | None = None,
        embedder: Embedder | None = None,
        emit: Callable[[str], None] = _stderr_line,
        now: Callable[[], datetime] = lambda: datetime.now().astimezone(),
    ) -> None:
        self.settings = settings
        self.schedule = parse_schedule(settings.reindex.schedule)
        self.on_published = on_published
        self.embedder = embedder
        self.emit = emit
        self.now = now
        self.runs = 0  # finished runs, failed ones included
        self.last_result: RunResult | None = None
        self.last_error: str | None = None
        self.next_at: datetime | None = None
        self._run_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def enabled(self) -> bool:
        return self.schedule is not None

    def start(self) -> None:
        """Start the background thread; does nothing when the schedule is empty."""
        if self.schedule is None or (self._thread is not None and self._thread.is_alive()):
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="dayone-reindex", daemon=True)
        self._thread.start()
        self.emit(f"reindex scheduled on {self.schedule!r}; next run at {self._next():%Y-%m-%d %H:%M:%S%z}")

    def stop(self, timeout: float | None = None) -> None:
        """Stop waiting for the next fire; a run in progress finishes first (the index stays consistent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _next(self) -> datetime:
        assert self.schedule is not None
        self.next_at = next_run(self.schedule, self.now())
        return self.next_at

    def _loop(self) -> None:
        while not self._stop.is_set():
            due = self._next()
            while not self._stop.is_set():
                left = (due - self.now()).total_seconds()
                if left <= 0:
                    break
                self._stop.wait(min(left, 60.0))  # re-check the clock: suspend or clock changes
            if self._stop.is_set():
                return
            self.run_now()

    def run_now(self) -> RunResult | None:
        """Reindex every repository now, in the calling thread; None when it could not run (logged)."""
        with self._run_lock:
            try:
                return self._run()
            except Exception as exc:  # the serving process must outlive any failed night
                self.last_error = " ".join(str(exc).split()) or type(exc).__name__
                self.emit(f"reindex failed: {self.last_error}")
                return None
            finally:
                self.runs += 1

    def _current_settings(self) -> Settings:
        """The settings with dayone.toml's repository list read again, so a repository added to the file is
        indexed by the next night's run without restarting `dayone serve`; a broken file keeps the old list."""
        if self.settings.config is None:
            return self.settings
        try:
            fresh = load_settings(self.settings.config)
        except ConfigError as exc:
            self.emit(f"reindex: {exc}; using the repositories read at start-up")
            return self.settings
        return self.settings.model_copy(update={"repos": fresh.repos})

    def _run(self) -> RunResult | None:
        settings = self._current_settings()
        before = IndexDir(settings.index_dir).current()
        repos = repos_for_all(settings)
        if not repos:
            self.emit("reindex: no repositories configured or indexed yet; nothing to do")
            self.last_error = None
            return None
        try:
            result = index_with_retries(settings, repos, embedder=self.embedder, say=self.emit)
        except IndexBusy as exc:
            self.last_error = str(exc)
            self.emit(f"reindex skipped: {exc}")
            return None
        for rr in result.repos:
            self.emit(repo_log_line(rr))
        self.last_result = result
        self.last_error = (f"{len(result.failed)} of {len(result.repos)} repositories failed"
                           if result.failed else None)
        if not result.failed and settings.reindex.tune:
            result = self._retune(settings, repos, result)
        if result.generation and (before is None or result.generation != before.name):
            self.emit(f"reindex published {result.generation} in {result.seconds:.1f}s")
            if self.on_published is not None:
                try:
                    self.on_published(result.generation)
                except Exception as exc:  # a refresh failure must not stop the schedule
                    self.emit(f"reindex: refreshing the server after {result.generation} failed: {exc}")
        return result

    def _retune(self, settings: Settings, repos: Sequence[RepoConfig], result: RunResult) -> RunResult:
        """`reindex.tune`: retune the embedder when enough new commits arrived; a tuned model that beats the base
        on held-out commits is switched to, and the index is rebuilt with it right away (the server's embedder
        follows in `Service.after_reindex`)."""
        from app.tune.mining import TuneError
        from app.tune.ops import maybe_retune

        try:
            report = maybe_retune(settings, log=self.emit)
        except (TuneError, StoreError, ConfigError) as exc:
            self.emit(f"retune failed: {exc}")
            return result
        if report is None or not report.switched:
            return result
        self.embedder = None  # the loaded one is the old model: the rebuild loads the tuned one
        self.emit("retuned embedder switched in: rebuilding the index with it")
        return index_with_retries(settings, repos, say=self.emit)
