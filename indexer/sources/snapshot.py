"""A repository's files at one point in time, whatever kind of repository they came from."""

from __future__ import annotations

import collections
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Protocol

from indexer.chunking.models import SourceFile


class BlobReader(Protocol):
    """Reads file contents by blob id (git's `cat-file --batch` process): the source of a git snapshot."""

    def read(self, blob: str) -> bytes: ...

    def close(self) -> None: ...


class SourceError(Exception):
    """A repository that cannot be read; the message is one line meant for the user."""



OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


# --------------------------------------------------------------------------------------------------
# Snapshot


@dataclass
class Snapshot:
    """The files of one repository at one point in time, and why the others were left out.

    `read()` returns what was listed: a git snapshot reads blobs of the recorded commit (never the
    work tree), a directory snapshot reads the file on disk. Close it (or use `with`) to stop the
    git reader process.
    """

    name: str
    root: Path
    commit: str | None
    branch: str | None
    files: list[SourceFile]
    skipped: collections.Counter[str] = field(default_factory=collections.Counter)
    skipped_paths: list[tuple[str, str]] = field(default_factory=list)
    _catfile: BlobReader | None = field(default=None, repr=False, compare=False)
    _by_path: dict[str, SourceFile] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_path = {f.path: f for f in self.files}

    def read(self, path: str) -> bytes:
        """Content of an offered file; KeyError for a path not in `files`, SourceError if unreadable."""
        source = self._by_path.get(path)
        if source is None:
            raise KeyError(f"{path!r} is not a file of repository {self.name!r}")
        if self._catfile is not None:
            return self._catfile.read(source.blob)
        try:
            # O_NOFOLLOW: a file swapped for a symlink after listing must still not be followed.
            fd = os.open(self.root / path, OPEN_FLAGS)
            with os.fdopen(fd, "rb") as fh:
                return fh.read()
        except OSError as exc:
            raise SourceError(f"repo '{self.name}': cannot read {path}: {exc.strerror or exc}") from None

    def close(self) -> None:
        if self._catfile is not None:
            self._catfile.close()

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class Collector:
    def __init__(self) -> None:
        self.files: list[SourceFile] = []
        self.skipped: collections.Counter[str] = collections.Counter()
        self.skipped_paths: list[tuple[str, str]] = []

    def skip(self, path: str, reason: str) -> None:
        self.skipped[reason] += 1
        self.skipped_paths.append((path, reason))

    def snapshot(self, *, name: str, root: Path, commit: str | None, branch: str | None,
                 catfile: BlobReader | None) -> Snapshot:
        self.files.sort(key=lambda f: f.path)
        self.skipped_paths.sort()
        return Snapshot(name=name, root=root, commit=commit, branch=branch, files=self.files,
                        skipped=self.skipped, skipped_paths=self.skipped_paths, _catfile=catfile)
