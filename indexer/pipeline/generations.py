"""Index generations: how the index is updated without ever exposing a half-built one.

Layout under `$DAYONE_HOME/index/`::

    CURRENT            name of the published generation, replaced atomically (write + fsync + rename)
    index.lock         flock held by the one running `dayone index`; holds its pid and start time
    gen-000042/        a complete generation: manifest.sqlite (+ symbol table) and shard/ (qdrant-edge)

An index run copies the published generation into a new directory, applies the changes there, flushes it, and
only then points CURRENT at it. A run killed at any moment leaves CURRENT on the last complete generation; the
next run deletes the unpublished leftover and starts again from the published one, so it ends with exactly the
chunks a fresh build gives (chunk ids are derived from repo, path, blob and position, never from history).

Readers (`dayone search`, `dayone serve`) open the generation CURRENT names. The embedded engine locks the
folder it opens, so a reader that finds the published shard locked by another reader opens a private copy of
it instead; the writer never opens a published shard, it only copies it. See docs/architecture.md.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

CURRENT = "CURRENT"
LOCK = "index.lock"
_GEN = re.compile(r"^gen-(\d{6})$")


class IndexBusy(Exception):
    """Another index run holds the writer lock."""


@dataclass(frozen=True)
class Generation:
    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def number(self) -> int:
        m = _GEN.match(self.path.name)
        return int(m.group(1)) if m else -1

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.sqlite"

    @property
    def shard_path(self) -> Path:
        return self.path / "shard"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class IndexDir:
    """The index folder: the published pointer, the generations, and the writer lock."""

    def __init__(self, root: Path):
        self.root = root

    def current(self) -> Generation | None:
        try:
            name = (self.root / CURRENT).read_text().strip()
        except FileNotFoundError:
            return None
        if not _GEN.match(name) or not (self.root / name).is_dir():
            return None
        return Generation(self.root / name)

    def generations(self) -> list[Generation]:
        if not self.root.is_dir():
            return []
        return sorted((Generation(p) for p in self.root.iterdir() if _GEN.match(p.name) and p.is_dir()),
                      key=lambda g: g.number)

    def new_generation(self) -> Generation:
        gens = self.generations()
        number = (gens[-1].number + 1) if gens else 1
        path = self.root / f"gen-{number:06d}"
        path.mkdir(parents=True)
        return Generation(path)

    def publish(self, gen: Generation) -> None:
        """Point CURRENT at `gen` atomically: readers see the old or the new generation, never a mix."""
        _fsync_tree(gen.path)
        tmp = self.root / f".{CURRENT}.{os.getpid()}"
        with open(tmp, "w") as fh:
            fh.write(gen.name + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.root / CURRENT)
        _fsync_dir(self.root)

    def collect_garbage(self, keep_previous: int = 1) -> list[str]:
        """Delete unpublished leftovers of killed runs and all but `keep_previous` older generations.

        The previous generation is kept because a running `dayone serve` may still be reading it until it
        notices the switch.
        """
        current = self.current()
        removed = []
        older = [g for g in self.generations() if current is None or g.number < current.number]
        doomed = older[: max(0, len(older) - keep_previous)]
        doomed += [g for g in self.generations() if current is None or g.number > current.number]
        for gen in doomed:
            shutil.rmtree(gen.path, ignore_errors=True)
            removed.append(gen.name)
        for stale in self.root.glob(f".{CURRENT}.*"):
            stale.unlink(missing_ok=True)
        return removed

    @contextlib.contextmanager
    def writer_lock(self):
        """Hold the one-writer lock, or raise IndexBusy naming the process that holds it."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip()
                detail = ""
                with contextlib.suppress(ValueError):
                    info = json.loads(holder)
                    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info["started"]))
                    detail = f" (pid {info['pid']}, started {started})"
                raise IndexBusy(
                    f"another dayone index run is in progress{detail}; try again when it finishes"
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps({"pid": os.getpid(), "started": time.time()}).encode(), 0)
            yield
        finally:
            os.close(fd)  # closing releases the flock, also when the process is killed


def _fsync_tree(path: Path) -> None:
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        _fsync_dir(Path(dirpath))


def copy_sparse(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Copy a file writing only its data regions, so holes stay holes.

    The engine preallocates its write-ahead log and segment files as sparse files (a fresh index of the example
    repository: 200 MB apparent, 1.3 MB on disk); a plain copy writes every hole out as zeros, so each index
    generation took 200 MB of real disk. Where the file system cannot report holes this is a plain copy.
    """
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        fd, size = fi.fileno(), os.fstat(fi.fileno()).st_size
        pos = 0
        try:
            while pos < size:
                try:
                    start = os.lseek(fd, pos, os.SEEK_DATA)
                except OSError as exc:  # ENXIO: only a hole is left
                    if exc.errno == errno.ENXIO:
                        break
                    raise
                end = os.lseek(fd, start, os.SEEK_HOLE)
                fi.seek(start)
                fo.seek(start)
                remaining = end - start
                while remaining > 0:
                    block = fi.read(min(remaining, 1 << 20))
                    if not block:
                        break
                    fo.write(block)
                    remaining -= len(block)
                pos = end
        except (AttributeError, OSError) as exc:  # no SEEK_DATA here: copy everything
            if isinstance(exc, OSError) and exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP):
                raise
            fi.seek(0)
            fo.seek(0)
            shutil.copyfileobj(fi, fo, 1 << 20)
        fo.truncate(size)
    shutil.copystat(src, dst)


def copy_manifest(src: Path, dst: Path) -> None:
    """Copy a manifest with SQLite's backup API so a reader holding it open never matters."""
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    target = sqlite3.connect(str(dst))
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
