"""Reading an indexed repository's files as the index saw them, and the short texts they say about themselves.

The tour and the summaries must describe what the index holds, not whatever the checkout moved to since: files
are listed from the manifest and read by their blob id with `git cat-file` in the local checkout (the path a
repository was indexed from, or the clone of its URL). A plain directory (no git) is read from disk. Nothing
here writes anything.
"""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

from app.settings import Settings
from indexer.catalog.manifest import FileEntry, RepoEntry
from indexer.reader import IndexReader


def local_root(settings: Settings, name: str, source: str) -> Path | None:
    """Where a repository's files are on this machine: its path, or the clone of its URL."""
    for candidate in (Path(source).expanduser() if source and "://" not in source else None,
                      settings.repo_cache_dir / name):
        if candidate is not None and candidate.is_dir():
            return candidate.resolve()
    return None


class RepoFiles:
    """The files of one indexed repository, read by blob id (exactly what was indexed)."""

    def __init__(self, settings: Settings, reader: IndexReader, repo: str):
        entry = reader.manifest.repo(repo)
        if entry is None:
            known = ", ".join(r.name for r in reader.manifest.repos()) or "none"
            raise KeyError(f"no indexed repository is named {repo!r} (indexed: {known})")
        self.entry: RepoEntry = entry
        self.name = repo
        self.files: dict[str, FileEntry] = reader.manifest.files(repo)
        self.root = local_root(settings, repo, entry.source)
        self._cache: dict[str, str | None] = {}

    @property
    def paths(self) -> list[str]:
        return sorted(self.files)

    def read_many(self, paths: list[str]) -> dict[str, str]:
        """Text of each path that can be read; binary or missing files are left out."""
        wanted = [p for p in paths if p in self.files and p not in self._cache]
        if wanted and self.root is not None:
            self._cache.update(self._cat(wanted))
        for p in wanted:
            if p not in self._cache or self._cache[p] is None:
                self._cache[p] = self._from_disk(p)
        return {p: t for p in paths if (t := self._cache.get(p)) is not None}

    def read(self, path: str) -> str | None:
        return self.read_many([path]).get(path)

    def _cat(self, paths: list[str]) -> dict[str, str | None]:
        blobs = [self.files[p].blob for p in paths]
        try:
            proc = subprocess.run(["git", "cat-file", "--batch"], cwd=self.root, capture_output=True, check=False,
                                  input="\n".join(blobs).encode() + b"\n", timeout=120)
        except (OSError, subprocess.TimeoutExpired):
            return {}
        out, pos, result = proc.stdout, 0, {}
        for path in paths:
            end = out.find(b"\n", pos)
            if end < 0:
                break
            header = out[pos:end].split()
            pos = end + 1
            if len(header) != 3 or header[1] != b"blob":
                result[path] = None
                continue
            size = int(header[2])
            result[path] = _decode(out[pos:pos + size])
            pos += size + 1
        return result

    def _from_disk(self, path: str) -> str | None:
        if self.root is None:
            return None
        try:
            return _decode((self.root / path).read_bytes())
        except OSError:
            return None


def _decode(data: bytes) -> str | None:
    if b"\0" in data[:8000]:
        return None
    return data.decode("utf-8", "replace")


# -- what a file says about itself ------------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z`(\"'])")


def first_sentence(text: str, limit: int = 200) -> str:
    """The first sentence of a docstring or paragraph, on one line."""
    text = " ".join(text.split())
    text = re.sub(r":[\w:]+:`~?([^`<]+?)(?:\s*<[^>]*>)?`", r"\1", text)  # RST roles -> their text
    text = re.sub(r"``([^`]+)``", r"\1", text).replace("`\\s", "`s").replace("\\s", "s")
    if not text:
        return ""
    parts = _SENTENCE_END.split(text, maxsplit=2)
    sentence = parts[0]
    if len(sentence) < 30 and len(parts) > 1:  # "HTTP routes." says too little alone
        sentence += " " + parts[1]
    if len(sentence) > limit:
        sentence = sentence[: limit - 1].rsplit(" ", 1)[0] + "…"
    return sentence


def _comment_block(lines: list[str]) -> str:
    parts = []
    for line in lines:
        s = line.strip()
        for prefix in ("///", "//!", "//", "/**", "/*", "*/", "*", "#", "--"):
            if s.startswith(prefix):
                s = s[len(prefix):]
                break
        parts.append(s.removesuffix("*/").strip())
    return " ".join(p for p in parts if p)


def module_doc(path: str, text: str) -> str:
    """A module's own description: its docstring (Python), package/leading comment (Go, TS/JS, others)."""
    if path.endswith((".py", ".pyi")):
        try:
            doc = ast.get_docstring(ast.parse(text))
        except (SyntaxError, ValueError, RecursionError):
            doc = None
        return first_sentence(doc or "")
    block: list[str] = []
    for line in text.splitlines()[:80]:
        s = line.strip()
        if not s:
            if block and path.endswith(".go"):
                block = []  # a license header above; the package comment sits right above `package`
            elif block:
                break
            continue
        if s.startswith(("#!", "#include", "#pragma", "#define", "// +build", "//go:", "// eslint", "/* eslint",
                         "// @ts-", "'use ", '"use ')):
            continue
        if s.startswith(("//", "/*", "*", "#", "--")):
            block.append(s)
            if s.endswith("*/") and not path.endswith(".go"):
                break
            continue
        break
    if block and re.search(r"copyright|license|spdx", " ".join(block), re.I) and len(block) < 30:
        block = [] if not path.endswith(".go") else block
    doc = _comment_block(block)
    return first_sentence(doc)


def symbol_doc(lines: list[str], start_line: int, end_line: int, path: str) -> str:
    """A definition's docstring (Python) or the comment right above it, first sentence."""
    if path.endswith((".py", ".pyi")):
        i = start_line - 1
        while i < min(end_line, len(lines)) and not lines[i].rstrip().endswith(":"):
            i += 1
        for j in range(i + 1, min(end_line, len(lines), i + 3)):
            s = lines[j].strip()
            if not s:
                continue
            m = re.match(r'^[rRuU]?("""|\'\'\'|"|\')(.*)', s)
            if not m:
                return ""
            quote, rest = m.group(1), m.group(2)
            body = [rest]
            k = j
            while quote not in rest and k + 1 < len(lines) and k < j + 12:
                k += 1
                rest = lines[k].strip()
                body.append(rest)
            return first_sentence(" ".join(body).split(quote)[0])
        return ""
    block: list[str] = []
    i = start_line - 2
    while i >= 0 and len(block) < 15:
        s = lines[i].strip()
        if s.startswith(("//", "/*", "*", "#")) and not s.startswith(("#include", "#[")):
            block.insert(0, s)
            i -= 1
            continue
        if s.startswith("@"):  # decorators / annotations between the comment and the definition
            i -= 1
            continue
        break
    return first_sentence(_comment_block(block))


__all__ = ["RepoFiles", "first_sentence", "local_root", "module_doc", "symbol_doc"]
