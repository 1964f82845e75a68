"""What a repository is and how it is laid out: the README's summary, the declared description, the
directories that matter and what each is for, and the repository map (PageRank) computed once per generation."""

from __future__ import annotations

import json
import re
from collections import Counter

from app.tour.entry_points import quiet
from app.tour.items import Item
from app.tour.repofiles import RepoFiles, first_sentence, module_doc
from app.tour.repomap import RepoMap, build_repo_map, is_peripheral
from indexer.reader import IndexReader

# -- what it is ---------------------------------------------------------------------------------------------

def readme_path(paths: list[str], directory: str = "") -> str | None:
    prefix = f"{directory}/" if directory else ""
    candidates = [p for p in paths if p.startswith(prefix) and "/" not in p[len(prefix):]
                  and re.match(r"(?i)^readme(\.(md|markdown|rst|txt))?$", p[len(prefix):])]
    return sorted(candidates, key=lambda p: (not p.lower().endswith(".md"), p))[0] if candidates else None


def readme_summary(text: str) -> tuple[str, int]:
    """The README's first paragraph of prose (not the title, badges, HTML or directives), and its line."""
    lines = text.splitlines()
    para: list[str] = []
    start = 0
    in_fence = False
    for n, raw in enumerate(lines, 1):
        s = raw.strip()
        if s.startswith(("```", "~~~")):
            in_fence = not in_fence
            if para:
                break
            continue
        if in_fence:
            continue
        nxt = lines[n].strip() if n < len(lines) else ""
        is_title = s.startswith("#") or re.match(r"^[=\-~^*#]{3,}$", s) or (
            s and re.match(r"^[=\-~^*#]{3,}$", nxt))
        skip = (not s or is_title or s.startswith(("<", "[![", "![", "..", ":", "|", "-", "*", ">", "[")) or
                re.match(r"^\s*(\S+\s*){1,3}$", s) and not para)
        if skip:
            if para and (not s or is_title):
                break
            continue
        if not para:
            start = n
        para.append(s)
    text = " ".join(para)
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)  # markdown links -> their text
    text = re.sub(r"`_+|:\w+:`([^`]+)`", r"\1", text)
    sentences = re.split(r"(?<=[.!?])\s+", text)
    summary = " ".join(sentences[:2])
    if len(summary) > 400:
        summary = first_sentence(summary, 400)
    return summary, start


def declared_description(files: RepoFiles) -> Item | None:
    """Without a README: the description in pyproject.toml, package.json, setup.cfg or Cargo.toml."""
    for path in ("pyproject.toml", "package.json", "setup.cfg", "Cargo.toml"):
        text = files.read(path) if path in files.files else None
        if not text:
            continue
        m = re.search(r'^\s*"?description"?\s*[=:]\s*["\']?([^"\'\n]+)', text, re.M)
        if m and m.group(1).strip():
            return Item(m.group(1).strip(), files.name, path, text.count("\n", 0, m.start()) + 1, kind="manifest")
    return None



# -- directories --------------------------------------------------------------------------------------------

def map_directories(paths: list[str], limit: int = 24) -> list[tuple[str, int]]:
    """The directories worth a line: every top-level one, then the largest second-level ones, with file counts."""
    counts: Counter[str] = Counter()
    for p in paths:
        parts = p.split("/")[:-1]
        for depth in (1, 2):
            if len(parts) >= depth:
                counts["/".join(parts[:depth])] += 1
    top = []
    for d in sorted(d for d in counts if "/" not in d and not d.startswith(".")):
        children = [c for c in counts if c.startswith(d + "/") and c.count("/") == 1]
        direct = counts[d] - sum(counts[c] for c in children)
        # "cmd/" holding only "cmd/relay/" reads better as the one line "cmd/relay/"
        top.append(children[0] if len(children) == 1 and direct == 0 else d)
    second = sorted((d for d in counts if "/" in d and d not in top and not is_peripheral(d + "/x")
                     and not any(s.startswith(".") for s in d.split("/"))
                     and counts[d] >= 3 and counts[d] < counts[d.split("/")[0]]),
                    key=lambda d: -counts[d])
    chosen = top[:limit]
    for d in second:
        if len(chosen) >= limit:
            break
        chosen.append(d)
    return [(d, counts[d]) for d in sorted(chosen)]


def directory_doc(files: RepoFiles, directory: str, central: list[str]) -> tuple[str, str, int]:
    """(summary, path, line) from the directory's README, package docstring/comment or most central file."""
    paths = files.paths
    readme = readme_path(paths, directory)
    candidates: list[str] = []
    if readme:
        candidates.append(readme)
    for name in ("__init__.py", "doc.go", "index.ts", "index.js", "mod.rs", "lib.rs", "main.go"):
        if f"{directory}/{name}" in files.files:
            candidates.append(f"{directory}/{name}")
    inside = [p for p in central if p.startswith(directory + "/")]
    candidates += inside[:3]
    direct = [p for p in paths if p.startswith(directory + "/") and p.count("/") == directory.count("/") + 1]
    candidates += [p for p in direct if p.endswith("package.json")]
    candidates += [p for p in direct if p.endswith((".py", ".go", ".ts", ".tsx", ".js", ".sql", ".sh"))][:6]
    docs = [p for p in direct if p.endswith((".md", ".rst"))]
    candidates += sorted(docs, key=lambda p: not p.rsplit("/", 1)[-1].startswith(("index.", "overview.")))[:3]
    texts = files.read_many(candidates)
    for p in candidates:
        text = texts.get(p)
        if not text:
            continue
        if p == readme or p.endswith((".md", ".rst")):
            doc = readme_summary(text)[0]
        elif p.endswith("package.json"):
            doc = ""
            with quiet():
                doc = str(json.loads(text).get("description") or "")
        else:
            doc = module_doc(p, text)
        if doc:
            return first_sentence(doc, 160), p, 1
    first = inside[0] if inside else next((p for p in paths if p.startswith(directory + "/")), directory)
    return "", first, 1


_MAPS: dict[tuple[str, str], RepoMap] = {}


def repo_map(reader: IndexReader, repo: str) -> RepoMap:
    """The repository map of the reader's generation, computed once per process (a generation never changes).

    A large repository (sympy: 40k definitions, 570k references) takes seconds; the UI and the MCP server
    show tours many times.
    """
    assert reader.generation is not None
    key = (str(reader.generation.path), repo)
    if key not in _MAPS:
        if len(_MAPS) > 32:
            _MAPS.clear()
        _MAPS[key] = build_repo_map(reader.symbols, repo)
    return _MAPS[key]
