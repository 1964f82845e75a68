"""The repository map: which files and symbols matter most, by PageRank over the reference graph.

A file that many other files refer to (by calling, importing or naming what it defines) is where a new hire
should start reading. The graph comes from the symbol table the indexer keeps per generation (definitions and
refs); edges go from the referring file to each file that defines the name, weighted like aider's repomap:
long specific names count more than short generic ones, private names and names defined in many files count
less, and repeated uses grow the weight only with the square root of their count. The rank a file receives is
then shared out to the definitions its referrers named, which ranks symbols.

A small power-iteration PageRank: no networkx needed, and the graphs are a few thousand nodes at most.
"""

from __future__ import annotations

import functools
import math
import re
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from indexer.catalog.symbols import SymbolTable

# Names that are everywhere and explain nothing: language builtins and dunder methods.
_NOISE = {
    "__init__", "__new__", "__call__", "__repr__", "__str__", "__eq__", "__hash__", "__enter__", "__exit__",
    "constructor", "init", "main", "self", "this", "super", "print", "len", "str", "int", "dict", "list", "set",
    "tuple", "bool", "float", "object", "Exception", "None", "True", "False", "String", "Error", "error", "err",
    "ctx", "fmt", "log", "get", "New", "new", "toString", "string", "any", "append", "make", "nil",
}
# Paths whose references count (they show what is used) but which are not themselves places to start.
_NOT_CENTRAL = re.compile(
    r"(^|/)(tests?|testing|__tests__|spec|specs|examples?|docs?|benchmarks?|scripts)(/|$)|(^|/)(test_[^/]*|[^/]*_test"
    r"\.go|[^/]*\.(test|spec)\.[jt]sx?|conftest\.py|setup\.py|noxfile\.py)$"
)


@dataclass(frozen=True)
class RankedFile:
    path: str
    rank: float


@dataclass(frozen=True)
class RankedSymbol:
    path: str
    name: str
    qualified_name: str
    kind: str
    start_line: int
    end_line: int
    rank: float
    referrers: int  # files (other than its own) that refer to the name


@dataclass
class RepoMap:
    files: list[RankedFile]
    symbols: list[RankedSymbol]


def is_peripheral(path: str) -> bool:
    """Tests, examples, docs and build scripts: they refer to the code but are not where to start."""
    return bool(_NOT_CENTRAL.search(path))


def pagerank(nodes: list[str], edges: dict[tuple[str, str], float], *, damping: float = 0.85,
             personalization: dict[str, float] | None = None, iterations: int = 100,
             tol: float = 1e-10) -> dict[str, float]:
    """PageRank by power iteration; dangling nodes spread their rank like the teleport does.

    Vectorised with numpy (already installed with sentence-transformers): a large repository has millions of
    edges, which pure-Python iteration takes minutes over.
    """
    if not nodes:
        return {}
    n = len(nodes)
    index = {node: i for i, node in enumerate(nodes)}
    triples = [(index[s], index[d], w) for (s, d), w in edges.items() if w > 0 and s in index and d in index]
    src = np.fromiter((t[0] for t in triples), dtype=np.int64, count=len(triples))
    dst = np.fromiter((t[1] for t in triples), dtype=np.int64, count=len(triples))
    weight = np.fromiter((t[2] for t in triples), dtype=np.float64, count=len(triples))
    out_weight = np.bincount(src, weights=weight, minlength=n)
    dangling = out_weight == 0
    share = np.zeros(len(triples)) if not len(triples) else weight / out_weight[src]
    if personalization:
        teleport = np.array([personalization.get(node, 0.0) for node in nodes], dtype=np.float64)
        teleport = teleport / teleport.sum() if teleport.sum() > 0 else np.full(n, 1.0 / n)
    else:
        teleport = np.full(n, 1.0 / n)
    rank = np.full(n, 1.0 / n)
    for _ in range(iterations):
        new = (1 - damping + damping * rank[dangling].sum()) * teleport
        new += damping * np.bincount(dst, weights=rank[src] * share, minlength=n)
        delta = np.abs(new - rank).sum()
        rank = new
        if delta < tol:
            break
    return {node: float(rank[i]) for i, node in enumerate(nodes)}


_FAMILY = {"py": "py", "pyi": "py", "ts": "js", "tsx": "js", "js": "js", "jsx": "js", "mjs": "js", "cjs": "js",
           "mts": "js", "cts": "js", "java": "jvm", "kt": "jvm", "kts": "jvm", "scala": "jvm", "c": "c", "h": "c",
           "cc": "c", "cpp": "c", "cxx": "c", "hpp": "c", "hh": "c"}
_KIND_WEIGHT = {"call": 1.0, "import": 1.0, "identifier": 0.3}
_MAX_DEFINERS = 20  # a name defined in more places than this is too generic to say anything


def _privacy(path: str) -> float:
    """A `_private.py` module is glue behind the public ones: listed, but after them at equal rank."""
    base = path.rsplit("/", 1)[-1]
    return 0.5 if base.startswith("_") and not base.startswith("__") else 1.0


def _family(path: str) -> str:
    ext = path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
    return _FAMILY.get(ext, ext)


def _name_weight(name: str, definers: int) -> float:
    weight = 1.0
    if len(name) >= 8 and (("_" in name.strip("_")) or any(c.isupper() for c in name[1:])):
        weight *= 3
    if name.startswith("_"):
        weight *= 0.1
    if definers > 5:
        weight *= 0.1
    return weight


@dataclass(frozen=True)
class _Def:
    path: str
    name: str
    qname: str
    kind: str
    start: int
    end: int


def _line_owners(defs: list[_Def]) -> list[_Def | None]:
    """For each line of a file, the innermost definition containing it (widest first, narrower overwrite)."""
    if not defs:
        return []
    owners: list[_Def | None] = [None] * (max(d.end for d in defs) + 2)
    for d in sorted(defs, key=lambda d: d.start - d.end):
        owners[d.start:d.end + 1] = [d] * (d.end - d.start + 1)
    return owners


def build_repo_map(symbols: SymbolTable, repo: str, *, back_weight: float = 0.5) -> RepoMap:
    """Rank the symbols and files of one indexed repository from its generation's symbol table.

    Nodes are definitions (plus one node per file for top-level code). A reference inside definition A to a
    name B defines gives an edge A -> B, and a weaker edge back (`back_weight`): a service that uses many
    parts is as central as a helper many parts use. A method and its class are linked both ways. Edges only
    join files of one language family, so a Python `request` never points at a TypeScript `request()`.
    """
    by_file: dict[str, list[_Def]] = defaultdict(list)
    by_name: dict[str, list[_Def]] = defaultdict(list)
    for loc in symbols.repo_definitions(repo):
        d = _Def(loc.path, loc.name, loc.qualified_name, loc.kind, loc.start_line, loc.end_line)
        by_file[d.path].append(d)
        if d.name and d.name not in _NOISE and not (d.name.startswith("__") and d.name.endswith("__")):
            by_name[d.name].append(d)
    edges: dict[tuple[str, str], float] = defaultdict(float)
    referrers: dict[str, set[str]] = defaultdict(set)  # qualified name -> files that refer to it
    pending: dict[tuple[str, str], float] = defaultdict(float)  # (source node, name) -> summed kind weight
    owners = {path: _line_owners(defs) for path, defs in by_file.items()}
    for path, name, kind, line in symbols.repo_references(repo):
        short = name.rsplit(".", 1)[-1]
        if short not in by_name:
            continue
        lines = owners.get(path, [])
        source = lines[line] if 0 <= line < len(lines) else None
        node = source.qname if source else f"file:{path}"
        pending[(node + "\0" + path, short)] += _KIND_WEIGHT.get(kind, 0.3)
    family_of = functools.lru_cache(maxsize=None)(_family)
    by_name_family: dict[tuple[str, str], list[_Def]] = defaultdict(list)
    for name, defs in by_name.items():
        if len(defs) <= _MAX_DEFINERS:
            for d in defs:
                by_name_family[(name, family_of(d.path))].append(d)
    name_weight = {name: _name_weight(name, len({d.path for d in defs})) for name, defs in by_name.items()}
    for (node_path, name), count in pending.items():
        node, path = node_path.split("\0", 1)
        targets = [d for d in by_name_family.get((name, family_of(path)), ()) if d.qname != node]
        if not targets:
            continue
        w = name_weight[name] * math.sqrt(count) / len(targets)
        for d in targets:
            edges[(node, d.qname)] += w
            edges[(d.qname, node)] += w * back_weight
            if d.path != path:
                referrers[d.qname].add(path)
    info: dict[str, _Def] = {}
    for defs in by_file.values():
        for d in defs:
            info.setdefault(d.qname, d)
    for defs in by_file.values():
        for d in defs:
            parent = d.qname.rsplit(".", 1)[0]
            if parent in info and parent != d.qname:
                edges[(d.qname, parent)] += 1.0  # a class is as central as its methods together
                edges[(parent, d.qname)] += 0.3
    node_path = {q: d.path for q, d in info.items()}
    nodes = sorted({*info, *(n for e in edges for n in e)})
    for n in nodes:
        if n.startswith("file:"):
            node_path[n] = n[5:]
    personalization = {n: (0.2 if is_peripheral(node_path.get(n, "")) else 1.0) for n in nodes}
    ranks = pagerank(nodes, edges, personalization=personalization)
    file_rank: dict[str, float] = defaultdict(float)
    for n, r in ranks.items():
        file_rank[node_path.get(n, "")] += r
    # A class counts with its members: people name "OrderService" for what its methods do together. Only its
    # five best members count, so a class is not central merely for having hundreds of methods.
    members: dict[str, list[float]] = defaultdict(list)
    for q in info:
        parent = q.rsplit(".", 1)[0]
        if parent in info and parent != q:
            members[parent].append(ranks.get(q, 0.0))
    totals = dict(ranks)
    for parent, values in members.items():
        totals[parent] = totals.get(parent, 0.0) + sum(sorted(values, reverse=True)[:5])
    symbols = [RankedSymbol(d.path, d.name, d.qname, d.kind, d.start, d.end, totals.get(q, 0.0) * _privacy(d.path),
                            len(referrers.get(q, ())))
               for q, d in info.items()
               if d.name not in _NOISE and not (d.name.startswith("__") and d.name.endswith("__"))]
    symbols.sort(key=lambda s: (-s.rank, s.path, s.start_line))
    files = sorted((RankedFile(p, r * _privacy(p)) for p, r in file_rank.items() if p), key=lambda f: (-f.rank, f.path))
    return RepoMap(files=files, symbols=symbols)


__all__ = ["RankedFile", "RankedSymbol", "RepoMap", "build_repo_map", "is_peripheral", "pagerank"]
