"""Plain directories: walked without following symlinks or entering .git, blob ids computed like git's."""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import stat
from pathlib import Path

from indexer.chunking.models import SourceFile
from indexer.settings import RepoConfig
from indexer.sources.filters import (
    SKIP_EXCLUDED,
    SKIP_SYMLINK,
    SKIP_SYMLINK_OUTSIDE,
    SKIP_TOO_LARGE,
    SKIP_UNREADABLE,
    SKIP_VENDORED,
    PathFilter,
    is_vendored_dir,
    name_reason,
    path_reason,
)
from indexer.sources.snapshot import OPEN_FLAGS, Collector, Snapshot


def link_leaves(path: str, target: str) -> bool:
    """Whether a link at repo-relative `path` pointing at `target` lands outside the root (lexically)."""
    if target.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", target):
        return True
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
    return resolved == ".." or resolved.startswith("../")




def git_blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def open_dir(repo: RepoConfig, root: Path, max_file_bytes: int, flt: PathFilter) -> Snapshot:
    out = Collector()
    real_root = os.path.realpath(root)
    pending = [""]
    while pending:
        rel_dir = pending.pop()
        try:
            with os.scandir(root / rel_dir if rel_dir else root) as it:
                entries = list(it)
        except OSError:
            out.skip(rel_dir + "/", SKIP_UNREADABLE)
            continue
        for entry in entries:
            path = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            try:
                path.encode("utf-8")
            except UnicodeEncodeError:
                out.skip(path.encode("utf-8", "surrogateescape").decode("utf-8", "replace"), SKIP_UNREADABLE)
                continue
            _walk_entry(entry, path, out, pending, flt, real_root, max_file_bytes)
    return out.snapshot(name=repo.name, root=root, commit=None, branch=None, catfile=None)


def _walk_entry(entry: os.DirEntry[str], path: str, out: Collector, pending: list[str], flt: PathFilter,
                real_root: str, max_file_bytes: int) -> None:
    try:
        is_link = entry.is_symlink()
        is_dir = not is_link and entry.is_dir(follow_symlinks=False)
    except OSError:
        out.skip(path, SKIP_UNREADABLE)
        return
    if entry.name == ".git":
        return  # repository metadata, not content
    if is_dir:
        if is_vendored_dir(entry.name):
            out.skip(path + "/", SKIP_VENDORED)
        elif flt.excludes_whole_dir(path):
            out.skip(path + "/", SKIP_EXCLUDED)
        else:
            pending.append(path)
        return
    reason = path_reason(path, flt)
    if reason is None and is_link:
        target = os.path.realpath(entry.path)
        inside = target == real_root or target.startswith(real_root.rstrip(os.sep) + os.sep)
        reason = SKIP_SYMLINK if inside else SKIP_SYMLINK_OUTSIDE
    if reason is None:
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            st = None
        if st is None or not stat.S_ISREG(st.st_mode):
            reason = SKIP_UNREADABLE
        else:
            reason = name_reason(entry.name)
            if reason is None and st.st_size > max_file_bytes:
                reason = SKIP_TOO_LARGE
    if reason is not None:
        out.skip(path, reason)
        return
    data = _read_regular(entry.path)
    if data is None:
        out.skip(path, SKIP_UNREADABLE)
    else:
        out.files.append(SourceFile(path=path, blob=git_blob_sha(data), size=len(data)))


def _read_regular(full_path: str) -> bytes | None:
    try:
        fd = os.open(full_path, OPEN_FLAGS | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as fh:
            return fh.read()
    except OSError:
        return None
