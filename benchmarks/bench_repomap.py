"""Time the repository map (app/tour/repomap.py) on a large Python tree without embedding anything.

Chunks every .py file under ROOT with the real chunker into an in-memory symbol table (the same tables an
index generation holds), then builds the map and prints the time and the top symbols and modules.

    SYMPY=$(python -c 'import sympy, os; print(os.path.dirname(sympy.__file__))')
    PYTHONPATH=. python benchmarks/bench_repomap.py "$SYMPY"
"""

from __future__ import annotations

import sqlite3
import sys
import time
from pathlib import Path

from app.tour.repomap import build_repo_map, is_peripheral
from indexer.catalog.symbols import SCHEMA, SymbolTable
from indexer.chunking import chunk_file


def main() -> None:
    root = Path(sys.argv[1])
    name = root.name
    conn = sqlite3.connect(":memory:")
    conn.executescript(SCHEMA)
    table = SymbolTable(conn)
    started = time.perf_counter()
    files = sorted(root.rglob("*.py"))
    for f in files:
        fc = chunk_file(f"{name}/{f.relative_to(root)}", f.read_bytes())
        table.add(name, fc.definitions, fc.references)
    defs, refs = table.counts()
    print(f"{len(files)} files, {defs} definitions, {refs} references, chunked in {time.perf_counter() - started:.1f}s")
    started = time.perf_counter()
    rmap = build_repo_map(table, name)
    print(f"repo map in {time.perf_counter() - started:.1f}s")
    print("top symbols:", ", ".join(s.qualified_name for s in rmap.symbols if not is_peripheral(s.path))[:600])
    print("top modules:", ", ".join(f.path for f in rmap.files if not is_peripheral(f.path))[:400])


if __name__ == "__main__":
    main()
