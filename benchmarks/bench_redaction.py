"""Count what the secret redactor (indexer/sources/redaction.py) replaces in real code that holds no credentials.

Installed packages are code written by others with no secrets in them (test keys aside), so every
replacement there is either a test fixture key or a false positive: a lost piece of context for a reader.
Runs `redact_file` on every non-binary file under each ROOT (minified bundles included, though the indexer
skips those) with the language the indexer would give it, and prints the files, megabytes, seconds and
replacements by kind. `--show N` prints N changed lines (path:line, before -> after) to judge them.

    SP=$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    PYTHONPATH=. python benchmarks/bench_redaction.py $SP/llama_index $SP/torch/_inductor --ext .py --show 40
    PYTHONPATH=. python benchmarks/bench_redaction.py $SP/gradio --ext .js --show 40

To compare with older rules, put their indexer/ first on PYTHONPATH (e.g. `git archive OLD indexer | tar -x -C
/tmp/old` and `PYTHONPATH=/tmp/old:.`).
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

from indexer.chunking.languages import sniff_language
from indexer.sources.redaction import REDACTION_VERSION, redact_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("roots", nargs="+", type=Path)
    parser.add_argument("--show", type=int, default=0, help="print this many changed lines")
    parser.add_argument("--max-bytes", type=int, default=8 << 20, help="skip files larger than this")
    parser.add_argument("--ext", action="append", default=[], help="only files ending so (repeatable: .py, .js)")
    args = parser.parse_args()
    found: Counter[str] = Counter()
    files = size = 0
    shown: list[str] = []
    slowest = (0.0, "")
    started = time.perf_counter()
    for root in args.roots:
        for f in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()
                        and (not args.ext or p.name.endswith(tuple(args.ext)))):
            data = f.read_bytes()
            if len(data) > args.max_bytes or b"\0" in data[:8192]:
                continue
            files += 1
            size += len(data)
            path = f"{root.name}/{f.relative_to(root)}"
            t0 = time.perf_counter()
            out, kinds = redact_file(path, data, sniff_language(path, data))
            slowest = max(slowest, (time.perf_counter() - t0, path))
            found.update(kinds)
            if kinds and len(shown) < args.show:
                before = data.decode("utf-8-sig", errors="replace").splitlines()
                for n, (a, b) in enumerate(zip(before, out.decode("utf-8").splitlines(), strict=False), 1):
                    if a != b and len(shown) < args.show:
                        shown.append(f"{path}:{n}: {a.strip()[:140]!r} -> {b.strip()[:140]!r}")
    seconds = time.perf_counter() - started
    print(f"rules v{REDACTION_VERSION}: {files} files, {size / 1e6:.1f} MB in {seconds:.1f} s; "
          f"{sum(found.values())} replacements" + "".join(f", {k} {v}" for k, v in sorted(found.items()))
          + f"; slowest file {slowest[1]} {slowest[0]:.2f} s")
    for line in shown:
        print(" ", line)


if __name__ == "__main__":
    main()
