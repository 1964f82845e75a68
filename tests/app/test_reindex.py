"""The nightly reindex: the scheduler inside `dayone serve`, and `dayone index --all` as the cron entry.

Real parts throughout: real git repositories, real tree-sitter, real qdrant-edge, the real MiniLM model, and a real
qdrant-client talking to a closed local port for "the Qdrant server is down" (no Qdrant server binary exists on
these machines, see ../shared/stack-notes.md).
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from app.reindex import (
    ReindexScheduler,
    index_with_retries,
    is_unreachable,
    next_run,
    parse_schedule,
    repos_for_all,
)
from app.settings import load_settings
from indexer.pipeline.generations import IndexDir
from indexer.reader import IndexReader
from indexer.settings import ConfigError, RepoConfig
from indexer.store import StoreError
from tests.conftest import commit_all, make_repo, write_files

GREETER = '''def greet(name):
    """Say hello to someone by name."""
    return f"hello {name}"
'''

FAREWELL = '''def farewell(name):
    """Say goodbye when the customer leaves the shop."""
    return f"goodbye {name}"
'''


def _closed_port() -> int:
    """A local port nothing listens on: connecting is refused at once, like a Qdrant server that is down."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _settings(*repos, **reindex):
    return load_settings(repos=[RepoConfig(name=p.name, path=str(p)) for p in repos],
                         reindex={"retries": 3, "backoff_s": 0.05, **reindex})


def _wait_for(predicate, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


# -- the schedule -------------------------------------------------------------------------------------------


def test_schedule_parsing():
    assert parse_schedule("") is None
    assert parse_schedule("   ") is None
    assert parse_schedule(" 0  2 * * * ") == "0 2 * * *"
    assert parse_schedule("* * * * * */10") == "* * * * * */10"  # a sixth field counts seconds
    at = datetime(2026, 1, 1, 3, 0, tzinfo=UTC)
    assert next_run("0 2 * * *", at) == datetime(2026, 1, 2, 2, 0, tzinfo=UTC)
    assert next_run("30 1 * * 1-5", datetime(2026, 1, 2, 12, 0, tzinfo=UTC)).weekday() == 0  # Monday


@pytest.mark.parametrize("bad", ["every night", "61 2 * * *", "0 2 * *", "0 25 * * *"])
def test_invalid_schedule_is_a_one_line_config_error_at_start(home, bad):
    with pytest.raises(ConfigError) as info:
        ReindexScheduler(load_settings(reindex={"schedule": bad}))
    message = str(info.value)
    assert message.startswith("reindex.schedule:") and "not a valid cron expression" in message
    assert "\n" not in message


def test_invalid_schedule_from_the_environment(home, monkeypatch):
    monkeypatch.setenv("DAYONE_REINDEX__SCHEDULE", "0 2 * * * * * *")
    with pytest.raises(ConfigError, match="reindex.schedule"):
        ReindexScheduler(load_settings())


def test_empty_schedule_never_starts_a_thread(home):
    sched = ReindexScheduler(load_settings())
    assert not sched.enabled
    sched.start()
    assert sched._thread is None
    sched.stop()


# -- the scheduler on a real index ----------------------------------------------------------------------------


def test_run_now_reindexes_and_refreshes_a_serving_reader(tmp_path, home, embedder):
    repo = make_repo(tmp_path / "tiny", {"greet.py": GREETER})
    settings = _settings(repo)
    lines: list[str] = []
    published: list[str] = []
    sched = ReindexScheduler(settings, embedder=embedder, emit=lines.append, on_published=published.append)

    first = sched.run_now()
    assert first is not None and not first.failed
    assert published == [IndexDir(settings.index_dir).current().name]

    # A serving process holds the published shard open, as `dayone serve` does; the reindex must not collide
    # with it, and the reader's refresh() (the on_published hook) must show the new code.
    with IndexReader(settings) as reader:
        before = reader.store.count()
        write_files(repo, {"farewell.py": FAREWELL})
        commit_all(repo, "add farewell")
        sched.on_published = lambda gen: (published.append(gen), reader.refresh())
        result = sched.run_now()
        assert result is not None and not result.failed
        assert len(published) == 2 and reader.generation.name == published[-1]
        assert reader.store.count() > before
        assert any(h.payload["path"] == "farewell.py" for h in reader.store.retrieve(
            list(reader.manifest.all_chunk_ids())))

    line = [ln for ln in lines if "repo=tiny" in ln][-1]
    assert re.search(r"reindex repo=tiny status=ok files_changed=1 files=2 chunks=\d+ chunks_added=\d+ "
                     r"chunks_removed=0 seconds=\d+\.\d commit=[0-9a-f]{12}$", line), line

    # Nothing changed: the run reports the repository as unchanged and publishes nothing.
    assert sched.run_now() is not None
    assert len(published) == 2
    assert "status=unchanged files_changed=0" in lines[-1]
    assert sched.runs == 3 and sched.last_error is None


def test_the_background_thread_fires_on_schedule(tmp_path, home, embedder):
    repo = make_repo(tmp_path / "tiny", {"greet.py": GREETER})
    settings = _settings(repo, schedule="* * * * * */1")  # every second: a real fire without waiting a minute
    published: list[str] = []
    lines: list[str] = []
    sched = ReindexScheduler(settings, embedder=embedder, emit=lines.append, on_published=published.append)
    sched.start()
    try:
        assert sched._thread is not None and sched._thread.is_alive()
        assert lines[0].startswith("reindex scheduled on '* * * * * */1'; next run at ")
        _wait_for(lambda: sched.runs >= 1)
    finally:
        sched.stop(timeout=120)
    assert not sched._thread.is_alive()
    assert published and IndexDir(settings.index_dir).current().name == published[0]
    assert any("repo=tiny status=ok" in ln for ln in lines)


def test_injected_clock_decides_when_it_fires(tmp_path, home, embedder):
    repo = make_repo(tmp_path / "tiny", {"greet.py": GREETER})
    clock = [datetime(2026, 3, 1, 1, 59, 59, tzinfo=UTC)]
    sched = ReindexScheduler(_settings(repo, schedule="0 2 * * *"), embedder=embedder, emit=lambda _: None,
                             now=lambda: clock[0])
    sched.start()
    try:
        assert sched.next_at == datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
        time.sleep(1.5)  # the real second passes, the injected clock does not: no run
        assert sched.runs == 0
        clock[0] += timedelta(seconds=2)
        _wait_for(lambda: sched.runs >= 1)
        _wait_for(lambda: sched.next_at == datetime(2026, 3, 2, 2, 0, tzinfo=UTC), timeout=10)
    finally:
        sched.stop(timeout=120)


def test_a_busy_index_skips_the_fire_and_keeps_the_scheduler_alive(tmp_path, home, embedder):
    repo = make_repo(tmp_path / "tiny", {"greet.py": GREETER})
    settings = _settings(repo)
    lines: list[str] = []
    sched = ReindexScheduler(settings, embedder=embedder, emit=lines.append)
    with IndexDir(settings.index_dir).writer_lock():  # a `dayone index` started by hand
        assert sched.run_now() is None
    assert lines[-1].startswith("reindex skipped: another dayone index run is in progress (pid")
    assert sched.run_now() is not None  # the next fire works
    assert sched.last_error is None


def test_one_failing_repository_does_not_stop_the_others(tmp_path, home, embedder):
    good = make_repo(tmp_path / "good", {"greet.py": GREETER})
    gone = make_repo(tmp_path / "gone", {"farewell.py": FAREWELL})
    settings = _settings(good, gone)
    shutil.rmtree(gone)
    lines: list[str] = []
    sched = ReindexScheduler(settings, embedder=embedder, emit=lines.append)
    result = sched.run_now()
    assert result is not None
    assert [r.name for r in result.failed] == ["gone"]
    assert sched.last_error == "1 of 2 repositories failed"
    assert any("repo=good status=ok" in ln for ln in lines)
    assert any(re.search(r"repo=gone status=failed seconds=\d+\.\d error=\S", ln) for ln in lines)
    with IndexReader(settings) as reader:
        assert [r.name for r in reader.manifest.repos()] == ["good"]


def test_repos_for_all_adds_previously_indexed_repositories(tmp_path, home, embedder):
    a = make_repo(tmp_path / "a", {"greet.py": GREETER})
    b = make_repo(tmp_path / "b", {"farewell.py": FAREWELL})
    index_with_retries(_settings(a, b), [RepoConfig(name="a", path=str(a)), RepoConfig(name="b", path=str(b))],
                       embedder=embedder)
    only_b = _settings(b)  # dayone.toml lost repository a; the index still knows it
    assert [r.name for r in repos_for_all(only_b)] == ["b", "a"]
    assert repos_for_all(only_b)[1].path == str(a)


# -- a Qdrant server that is down ---------------------------------------------------------------------------


def test_unreachable_server_is_retried_with_exponential_backoff_then_a_clear_error(tmp_path, home):
    repo = make_repo(tmp_path / "tiny", {"greet.py": GREETER})
    url = f"http://127.0.0.1:{_closed_port()}"
    settings = load_settings(repos=[RepoConfig(name="tiny", path=str(repo))], qdrant_url=url,
                             reindex={"retries": 3, "backoff_s": 0.05})
    waits: list[float] = []
    said: list[str] = []

    def sleep(s: float) -> None:
        waits.append(s)
        time.sleep(s)

    with pytest.raises(StoreError) as info:
        index_with_retries(settings, settings.repos, say=said.append, sleep=sleep)
    assert waits == [0.05, 0.1]
    message = str(info.value)
    assert message.startswith(f"Qdrant server at {url} is unreachable: ") and "gave up after 3 attempts" in message
    assert is_unreachable(info.value) and "\n" not in message
    assert said[0].endswith("retrying in 0.05s (attempt 2 of 3)") and said[1].endswith("(attempt 3 of 3)")
    assert IndexDir(settings.index_dir).current() is None  # nothing half-built was published
    assert not IndexDir(settings.index_dir).generations()


def test_other_store_errors_are_not_retried(home):
    assert not is_unreachable(StoreError("Qdrant server at http://q:6333: upsert failed: HTTP 400: wrong vector size"))
    assert not is_unreachable(None)


def _cli(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.doors.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=timeout)


def test_cron_entry_exits_non_zero_with_one_line_when_the_server_stays_down(tmp_path, home):
    repo = make_repo(tmp_path / "tiny", {"greet.py": GREETER})
    (tmp_path / "dayone.toml").write_text(f'[[repos]]\nname = "tiny"\npath = "{repo}"\n')
    port = _closed_port()
    proc = _cli("index", "--all", env={"DAYONE_HOME": str(home), "DAYONE_CONFIG": str(tmp_path / "dayone.toml"),
                                       "DAYONE_QDRANT_URL": f"http://127.0.0.1:{port}",
                                       "DAYONE_REINDEX__RETRIES": "2", "DAYONE_REINDEX__BACKOFF_S": "0.1"})
    assert proc.returncode == 2, proc.stderr
    assert f"Qdrant server at http://127.0.0.1:{port} is unreachable" in proc.stderr
    assert "retrying in 0.1s (attempt 2 of 2)" in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert re.match(r"error: Qdrant server at .* \(gave up after 2 attempts in \d+s\)$", last), last


def test_cron_entry_logs_every_repository_and_exits_1_when_one_fails(tmp_path, home):
    good = make_repo(tmp_path / "good", {"greet.py": GREETER})
    (tmp_path / "dayone.toml").write_text(
        f'[[repos]]\nname = "good"\npath = "{good}"\n\n[[repos]]\nname = "gone"\npath = "{tmp_path / "gone"}"\n')
    proc = _cli("index", "--all", env={"DAYONE_HOME": str(home), "DAYONE_CONFIG": str(tmp_path / "dayone.toml")})
    assert proc.returncode == 1, proc.stderr
    logs = [ln for ln in proc.stderr.splitlines() if " reindex repo=" in ln]
    assert len(logs) == 2
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} reindex repo=good status=ok files_changed=1 ", logs[0])
    assert " reindex repo=gone status=failed " in logs[1]
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ")


# -- a Qdrant server that goes away mid-run ---------------------------------------------------------------------


class _VanishingQdrant(http.server.BaseHTTPRequestHandler):
    """Answers the few REST calls an index run of a fresh collection makes, then stops listening after the first
    upsert: the Qdrant server "goes away" between two repositories. A stand-in, because no Qdrant server binary
    can be installed on these machines; the client talking to it is the real qdrant-client.
    """

    protocol_version = "HTTP/1.0"  # one connection per request, so a closed listener refuses the next one
    calls: list[str]

    def _reply(self, result) -> None:
        body = json.dumps({"result": result, "status": "ok", "time": 0.0}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        path = self.path.split("?")[0]
        self.calls.append(f"{self.command} {path}")
        if path.endswith("/exists"):
            self._reply({"exists": self.server.created})
        elif self.command == "PUT" and path.count("/") == 2:  # create collection
            self.server.created = True
            self._reply(True)
        elif path.endswith("/points/scroll"):
            self._reply({"points": [], "next_page_offset": None})
        elif path.endswith("/index") or path.endswith("/points"):
            if path.endswith("/points"):  # the first repository's chunks arrive: then the server goes away
                self.server.socket.close()
            self._reply({"operation_id": len(self.calls), "status": "completed"})
        else:
            self.send_response(404)
            self.end_headers()

    do_GET = do_PUT = do_POST = _handle  # noqa: N815 - http.server's naming

    def log_message(self, *args) -> None:
        pass


def test_server_that_goes_away_mid_run_keeps_the_finished_repository_and_fails_the_rest(tmp_path, home, embedder):
    first = make_repo(tmp_path / "first", {"greet.py": GREETER})
    second = make_repo(tmp_path / "second", {"farewell.py": FAREWELL})
    calls: list[str] = []
    handler = type("H", (_VanishingQdrant,), {"calls": calls})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.created = False

    def serve() -> None:
        with contextlib.suppress(OSError, ValueError):  # the listener is closed under it on purpose
            server.serve_forever(poll_interval=0.05)

    threading.Thread(target=serve, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    settings = load_settings(repos=[RepoConfig(name="first", path=str(first)),
                                    RepoConfig(name="second", path=str(second))],
                             qdrant_url=url, reindex={"retries": 2, "backoff_s": 0.05})
    waits: list[float] = []
    said: list[str] = []
    try:
        result = index_with_retries(settings, settings.repos, embedder=embedder, say=said.append,
                                    sleep=lambda s: (waits.append(s), time.sleep(s)))
    finally:
        server.server_close()
    assert "PUT /collections/dayone_chunks/points" in calls  # the first repository really reached the server
    assert [r.name for r in result.repos if not r.error] == ["first"]
    [failed] = result.failed
    assert failed.name == "second" and is_unreachable(failed) and "gave up after 2 attempts" in failed.error
    assert waits == [0.05]
    assert said[0].startswith("the Qdrant server went away during the run (second not indexed); retrying those")
    # The finished repository was published; the failed one is not in the index (next night picks it up).
    gen = IndexDir(settings.index_dir).current()
    assert gen is not None and result.generation == gen.name
    from indexer.catalog.manifest import Manifest, connect

    conn = connect(gen.manifest_path, readonly=True)
    try:
        assert [r.name for r in Manifest(conn).repos()] == ["first"]
    finally:
        conn.close()


def test_a_repository_added_to_dayone_toml_is_indexed_without_a_restart(tmp_path, home, embedder):
    a = make_repo(tmp_path / "a", {"greet.py": GREETER})
    b = make_repo(tmp_path / "b", {"farewell.py": FAREWELL})
    config = tmp_path / "dayone.toml"
    config.write_text(f'[[repos]]\nname = "a"\npath = "{a}"\n')
    settings = load_settings(config)
    lines: list[str] = []
    sched = ReindexScheduler(settings, embedder=embedder, emit=lines.append)
    assert [r.name for r in sched.run_now().repos] == ["a"]

    config.write_text(config.read_text() + f'\n[[repos]]\nname = "b"\npath = "{b}"\n')
    assert [r.name for r in sched.run_now().repos] == ["a", "b"]

    config.write_text("[[repos]]\nname = 'broken'\n")  # a bad edit: neither path nor url
    result = sched.run_now()
    assert [r.name for r in result.repos] == ["a", "b"]  # the known repositories still get their night
    assert any(ln.startswith("reindex: ") and "using the repositories read at start-up" in ln for ln in lines)
    # The failed reread leaves nothing behind: settings built afterwards do not inherit the broken file.
    from app.settings import Settings

    assert Settings(home=tmp_path / "other").repos == []
