"""One-line summaries of directories and central modules, written by the local model and cached by content.

The tour is read many times and the code changes a little each night, so summaries are written once, after
`dayone index` publishes, and kept in `$DAYONE_HOME/summaries.sqlite` under a key that hashes the prompt (which
holds the material: file names, docstrings, signatures), the model and the prompt version. A rerun asks the
model only for items whose material changed; everything else is a cache hit. With `tour.summaries = false`
or no model the tour falls back to extractive summaries (docstrings, README sentences).

Calls are few and short on purpose: a CPU reads ~165 prompt tokens/s and writes ~25 tokens/s with the 0.5B
model, so prompts are capped at ~300 tokens and answers at 48 tokens (about 3 s per item).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from app.settings import Settings
from app.tour.repofiles import RepoFiles, first_sentence, module_doc, symbol_doc
from app.tour.repomap import is_peripheral
from indexer.catalog.summaries import SummaryCache
from indexer.reader import IndexReader

PROMPT_VERSION = "4"
MAX_MATERIAL_CHARS = 1100  # ~300 tokens of code text
MAX_ANSWER_TOKENS = 48
MODULES_PER_REPO = 8

_SYSTEM = ("You describe code to a developer on their first day. Reply with exactly one plain sentence of at "
           "most 25 words saying what the code does for the project, e.g. \"Sends the order emails queued by the "
           "API.\" No preamble, no markdown, no list.")


@dataclass(frozen=True)
class Target:
    repo: str
    kind: str  # "directory" or "module"
    path: str
    prompt: str

    def key(self, model_id: str) -> str:
        return hashlib.sha256(f"{PROMPT_VERSION}\0{model_id}\0{self.prompt}".encode()).hexdigest()


@dataclass
class RefreshResult:
    generated: int = 0
    reused: int = 0
    failed: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


def cache_path(settings: Settings) -> Path:
    return settings.home / "summaries.sqlite"


def model_id(model: object) -> str:
    """What identifies the model in cache keys: a different model writes different summaries."""
    for attr in ("name", "path", "base_url"):
        value = getattr(model, attr, None)
        if value:
            return f"{type(model).__name__}:{value}"
    return type(model).__name__


def summary_targets(settings: Settings, reader: IndexReader, repo: str) -> list[Target]:
    """The directory-map entries and central modules that have no description of their own, with prompts.

    An item whose authors described it (README, docstring, package comment) keeps their words: they are
    better than a 0.5B model's paraphrase, and skipping them saves most of the model calls.
    """
    from app.tour.overview import directory_doc, map_directories, repo_map

    files = RepoFiles(settings, reader, repo)
    rmap = repo_map(reader, repo)
    central = [f.path for f in rmap.files if not is_peripheral(f.path)]
    position = {p: i for i, p in enumerate(central)}
    defs: dict[str, list[str]] = {}
    for loc in reader.symbols.repo_definitions(repo):
        path, name, kind = loc.path, loc.qualified_name, loc.kind
        if kind in ("class", "function", "struct", "interface", "trait", "enum", "type") and name.count(".") <= \
                path.count("/") + 2:
            defs.setdefault(path, []).append(name.rsplit(".", 1)[-1])
    targets = []
    docs_needed = central[:MODULES_PER_REPO]
    dirs = map_directories(files.paths)
    for d, _count in dirs:
        inside = [p for p in files.paths if p.startswith(d + "/")]
        docs_needed += sorted(inside, key=lambda p: position.get(p, len(central)))[:8]
    texts = files.read_many(sorted(set(docs_needed)))
    for path in central[:MODULES_PER_REPO]:
        text = texts.get(path, "")
        doc = module_doc(path, text) if text else ""
        if doc:
            continue
        # Its most central definitions first, each with the first sentence of its own docstring or comment:
        # a small model grounded in the authors' words invents less than one reading bare signatures.
        lines = text.splitlines()
        entries = []
        for sym in [s for s in rmap.symbols if s.path == path and s.kind != "method"][:10]:
            head = lines[sym.start_line - 1].strip() if 0 < sym.start_line <= len(lines) else sym.name
            if head.startswith("@"):
                head = next((ln.strip() for ln in lines[sym.start_line:sym.start_line + 5]
                             if not ln.strip().startswith("@")), head)
            sdoc = symbol_doc(lines, sym.start_line, sym.end_line, path)
            entries.append(f"- {head[:100]}" + (f"  # {sdoc}" if sdoc else ""))
        material = f"File {path} in repository {repo}. Its main definitions:\n" + "\n".join(entries)
        prompt = material[:MAX_MATERIAL_CHARS] + "\n\nIn one sentence, what is this file for?"
        targets.append(Target(repo, "module", path, prompt))
    for d, count in dirs:
        if directory_doc(files, d, central)[0]:
            continue
        inside = [p for p in files.paths if p.startswith(d + "/")]
        ranked = sorted(inside, key=lambda p: position.get(p, len(central)))[:8]
        lines = [f"Directory {d}/ of repository {repo} has {count} files. The main ones:"]
        for p in ranked:
            text = texts.get(p, "")
            doc = module_doc(p, text) if text else ""
            names = ", ".join(defs.get(p, [])[:6])
            lines.append(f"- {p[len(d) + 1:]}" + (f": {doc}" if doc else "") + (f" (defines {names})" if names
                                                                                  else ""))
        prompt = "\n".join(lines)[:MAX_MATERIAL_CHARS] + "\n\nIn one sentence, what is this directory for?"
        targets.append(Target(repo, "directory", d, prompt))
    return targets


_PREAMBLE = re.compile(r"^(the|this) (python |go |typescript )?(file|directory|folder|module|code|package)"
                       r"( is( designed| used)?( for| to)?)?\s+", re.I)


def _clean(text: str) -> str:
    """One sentence, no markdown, no "This file is..." preamble (the tour already says what the item is)."""
    text = text.strip().split("\n")[0].strip().strip('"').strip()
    text = re.sub(r"[*`#]+", "", text)
    text = _PREAMBLE.sub("", text)
    text = first_sentence(text, 220)
    if text:
        text = text[0].upper() + text[1:]
    if text and text[-1] not in ".!?…":
        text += "."
    return text


def refresh_summaries(settings: Settings, reader: IndexReader, repos: list[str] | None = None,
                      model: object | None = None, *, progress: Callable[[str], None] | None = None
                      ) -> RefreshResult:
    """Write the summaries the cache lacks for `repos` (default: all indexed). Call after `dayone index`.

    `model` is an app.answer.chat_model.ChatModel; None loads the configured one. Returns counts; with `tour.summaries`
    off it does nothing. A failing model call is counted and the item keeps its extractive summary.
    """
    result = RefreshResult()
    if not settings.tour.summaries:
        return result
    started = time.perf_counter()
    if model is None:
        from app.answer.chat_model import load_chat_model

        model = load_chat_model(settings)
    mid = model_id(model)
    names = repos or [r.name for r in reader.manifest.repos()]
    cache = SummaryCache(cache_path(settings))
    try:
        for repo in names:
            current: dict[tuple[str, str], str] = {}
            for target in summary_targets(settings, reader, repo):
                key = target.key(mid)
                current[(target.kind, target.path)] = key
                if cache.get(key) is not None:
                    result.reused += 1
                    continue
                try:
                    raw = model.complete([{"role": "system", "content": _SYSTEM},  # type: ignore[attr-defined]
                                          {"role": "user", "content": target.prompt}],
                                         max_tokens=MAX_ANSWER_TOKENS, temperature=0.0)
                except Exception as exc:  # noqa: BLE001 - a model failure must not lose the other summaries
                    result.failed += 1
                    result.errors.append(f"{repo}:{target.path}: {exc}")
                    current.pop((target.kind, target.path))
                    continue
                text = _clean(raw)
                if not text:
                    result.failed += 1
                    current.pop((target.kind, target.path))
                    continue
                cache.put(key, text, mid)
                result.generated += 1
                if progress:
                    progress(f"{repo}:{target.path}: {text}")
            cache.set_current(repo, current)
            cache.commit()
    finally:
        cache.close()
    result.seconds = time.perf_counter() - started
    return result


def cached_summaries(settings: Settings, reader: IndexReader, repo: str) -> dict[tuple[str, str], str]:
    """(kind, path) -> summary written for the repository's last refresh; empty when off or none yet."""
    path = cache_path(settings)
    if not settings.tour.summaries or not path.is_file():
        return {}
    return SummaryCache.read_current(path, repo)


__all__ = ["RefreshResult", "Target", "cache_path", "cached_summaries", "model_id",
           "refresh_summaries", "summary_targets"]
