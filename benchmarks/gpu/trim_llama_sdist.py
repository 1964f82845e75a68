"""Cut the llama-cpp-python sdist down to what a CUDA build needs, so it fits the GPU machine's 64 MiB transfer.

The 0.3.36 sdist is 76 MB compressed (217 MB unpacked), mostly not source: a bundled `.git` (39 MB),
`vendor/llama.cpp/docs` (38 MB), `models/ggml-vocab-*.gguf` (75 MB), `tools/ui`, `benches`, tests. What the build
uses is llama_cpp/ (the Python package), the top-level CMake files and, from vendor/llama.cpp, cmake/, include/,
src/, common/, vendor/ and ggml/ with its CPU and CUDA backends. gguf-py (llama.cpp's own `gguf` package, the
version that matches this llama.cpp) is kept too: random_gguf.py writes the speed-test models with it.

    pip download --no-deps --no-binary :all: llama-cpp-python==0.3.36 -d /tmp/sdist
    python benchmarks/gpu/trim_llama_sdist.py /tmp/sdist/llama_cpp_python-0.3.36.tar.gz .gpu-answer/llama-src.tgz

The tarball unpacks to `llama-cpp-python/`; `pip wheel` builds it like the sdist (see answer_run.sh).
"""

from __future__ import annotations

import argparse
import sys
import tarfile
from pathlib import Path

TOP_DROP = {".git", ".github", "docs", "examples", "tests", "docker", "scripts", "mkdocs.yml", ".gitmodules"}
VENDOR_KEEP = {"CMakeLists.txt", "LICENSE", "licenses", "cmake", "include", "src", "common", "vendor", "ggml",
               "gguf-py", "tools"}
TOOLS_KEEP = {"CMakeLists.txt", "mtmd"}  # mtmd only builds with LLAVA_BUILD=ON; kept so the default build works
GGML_BACKENDS_KEEP = {"ggml-cpu", "ggml-cuda", "ggml-blas"}  # other backend folders are added only when enabled
GGUF_PY_DROP = {"tests", "examples", "scripts"}


def keep(rel: str) -> bool:
    """Whether a path inside the sdist (top folder stripped) belongs to the CUDA build."""
    parts = rel.split("/")
    if parts[0] in TOP_DROP:
        return False
    if parts[0] != "vendor" or len(parts) < 3 or parts[1] != "llama.cpp":
        return True
    sub = parts[2:]
    if sub[0] not in VENDOR_KEEP:
        return False
    if sub[0] == "tools" and len(sub) > 1 and sub[1] not in TOOLS_KEEP:
        return False
    if sub[0] == "gguf-py" and len(sub) > 1 and sub[1] in GGUF_PY_DROP:
        return False
    # a backend folder other than the kept ones goes; files directly in ggml/src (ggml-*.c) stay: len(sub) == 3
    return not (sub[:2] == ["ggml", "src"] and len(sub) > 3 and sub[2].startswith("ggml-")
                and sub[2] not in GGML_BACKENDS_KEEP)


def trim(sdist: Path, out: Path, top: str = "llama-cpp-python") -> tuple[int, int]:
    """Write the kept members under `top/`; return (files kept, files dropped)."""
    kept = dropped = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(sdist, "r:gz") as src, tarfile.open(out, "w:gz", compresslevel=9) as dst:
        for member in src:
            name = member.name.split("/", 1)
            rel = name[1] if len(name) > 1 else ""
            if not rel:
                continue
            if not keep(rel):
                dropped += 1
                continue
            if not (member.isfile() or member.isdir()):
                dropped += 1  # links and devices: none are needed to build
                continue
            member.name = f"{top}/{rel}"
            # a long name also sits in the member's PAX "path" header, which wins over .name when read back: the
            # first device run failed on 49 fattn-vec instances left under the sdist's own top folder
            member.pax_headers = {k: v for k, v in member.pax_headers.items() if k not in ("path", "linkpath")}
            dst.addfile(member, src.extractfile(member) if member.isfile() else None)
            kept += member.isfile()
    return kept, dropped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sdist", type=Path, help="llama_cpp_python-<version>.tar.gz from pip download")
    parser.add_argument("out", type=Path, help="the trimmed .tgz to write")
    parser.add_argument("--max-mib", type=float, default=16.0, help="fail if the result is larger than this")
    args = parser.parse_args()
    if not args.sdist.is_file():
        sys.exit(f"no such sdist: {args.sdist} (pip download --no-deps --no-binary :all: llama-cpp-python==0.3.36)")
    kept, dropped = trim(args.sdist, args.out)
    mib = args.out.stat().st_size / 2**20
    print(f"{args.out}: {mib:.1f} MiB, {kept} files kept, {dropped} entries dropped "
          f"(sdist {args.sdist.stat().st_size / 2**20:.1f} MiB)")
    if mib > args.max_mib:
        sys.exit(f"trimmed tarball is {mib:.1f} MiB, over --max-mib {args.max_mib}: check what the sdist added")


if __name__ == "__main__":
    main()
