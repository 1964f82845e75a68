"""The reindex container's clock: run a command (`dayone index --all`) on `reindex.schedule`, forever.

Slim images have no cron daemon, and installing one means root, a crontab and lost environment variables. This
loop reads the same setting `dayone serve` uses (DAYONE_REINDEX__SCHEDULE or [reindex] schedule in dayone.toml,
validated by app/reindex.py), runs the command as a child process whose output goes to `docker logs`, and
records the outcome in $DAYONE_HOME/reindex-cron.json, which `cron.py --check` turns into the container's health:
unhealthy after a run that exited non-zero, so `docker ps` shows a failed night.

    python docker/cron.py dayone index --all          # the compose `reindex` service
    python docker/cron.py --check                     # its HEALTHCHECK
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

from app.reindex import next_run, parse_schedule
from app.settings import load_settings
from indexer.settings import ConfigError

STATUS_FILE = "reindex-cron.json"


def _now() -> datetime:
    return datetime.now().astimezone()


def _write_status(path: Path, status: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(status, indent=1) + "\n")
    tmp.replace(path)


def check(status_path: Path) -> int:
    """Healthy until a run exits non-zero; healthy again after the next run that succeeds."""
    try:
        status = json.loads(status_path.read_text())
    except FileNotFoundError:
        print("healthy: no reindex has run yet")
        return 0
    except (OSError, ValueError) as exc:
        print(f"unhealthy: {status_path}: {exc}")
        return 1
    code = status.get("exit_code")
    if code not in (0, None):
        print(f"unhealthy: the reindex at {status.get('started')} exited {code}")
        return 1
    print(f"healthy: last reindex {status.get('started') or 'never'} exited {code}; next at {status.get('next')}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report the last run's outcome as a health check")
    parser.add_argument("--max-runs", type=int, default=0, help="stop after this many runs (0: never)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command to run on schedule")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        status_path = settings.home / STATUS_FILE
        if args.check:
            return check(status_path)
        schedule = parse_schedule(settings.reindex.schedule)
        if schedule is None:
            raise ConfigError("reindex.schedule is empty: set DAYONE_REINDEX__SCHEDULE (a cron expression such "
                              "as \"0 2 * * *\") or [reindex] schedule in dayone.toml")
    except ConfigError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    if not args.command:
        parser.error("no command to run")

    stop = threading.Event()
    child: list[subprocess.Popen] = []

    def _terminate(signum: int, _frame: object) -> None:
        # PID 1 in a container ignores SIGTERM unless it handles it; pass it on to a running index, whose
        # generations keep the published index intact whatever moment it stops at.
        stop.set()
        for proc in child:
            if proc.poll() is None:
                proc.send_signal(signum)

    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)

    runs = 0
    last: dict = {"command": args.command, "started": None, "finished": None, "exit_code": None}
    while not stop.is_set():
        due = next_run(schedule, _now())
        last["next"] = due.isoformat(timespec="seconds")
        _write_status(status_path, last)
        print(f"{_now():%Y-%m-%dT%H:%M:%S%z} cron: next run of {' '.join(args.command)!r} at "
              f"{due:%Y-%m-%d %H:%M:%S%z} (schedule {schedule!r})", flush=True)
        while not stop.is_set() and (left := (due - _now()).total_seconds()) > 0:
            stop.wait(min(left, 60.0))
        if stop.is_set():
            break
        started = time.monotonic()
        last["started"] = _now().isoformat(timespec="seconds")
        proc = subprocess.Popen(args.command)
        child[:] = [proc]
        code = proc.wait()
        last.update(finished=_now().isoformat(timespec="seconds"), exit_code=code)
        print(f"{_now():%Y-%m-%dT%H:%M:%S%z} cron: {' '.join(args.command)!r} exited {code} after "
              f"{time.monotonic() - started:.1f}s", flush=True)
        runs += 1
        if args.max_runs and runs >= args.max_runs:
            last["next"] = None
            break
    _write_status(status_path, last)
    return 0


if __name__ == "__main__":
    sys.exit(main())
