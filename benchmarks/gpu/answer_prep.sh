#!/usr/bin/env bash
# Assemble what the GPU answer-speed run needs into .gpu-answer/ (ignored by git, carried by the device call).
# Run here, from the repository root, with the project installed and PyPI reachable; README.md says how the
# device call then goes. What it puts there (about 13 MiB, far under the 64 MiB a call may carry):
#   llama-src.tgz   llama-cpp-python 0.3.36 cut to the sources a CUDA build needs (trim_llama_sdist.py)
#   tokenizer.gguf  the Qwen2.5 tokenizer metadata from the real 0.5B GGUF, no weights (random_gguf.py)
#   whl/            Python 3.12 wheels the GPU image lacks: llama-cpp-python's diskcache, and what
#                   app/answer/chat_model.py imports through app/settings.py and indexer/settings.py (pydantic, pydantic-settings and theirs)
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
G=.gpu-answer
exclude="$(git rev-parse --git-path info/exclude)"
mkdir -p "$(dirname "$exclude")"
for p in /.gpu-answer/ /.gpu-answer-build/; do grep -qxF "$p" "$exclude" 2>/dev/null || echo "$p" >>"$exclude"; done
rm -rf "$G" && mkdir -p "$G/whl"
VERSION=0.3.36

sdist_dir=$(mktemp -d)
python -m pip download -q --no-deps --no-binary :all: "llama-cpp-python==$VERSION" -d "$sdist_dir"
python benchmarks/gpu/trim_llama_sdist.py "$sdist_dir/llama_cpp_python-$VERSION.tar.gz" "$G/llama-src.tgz"
tar xzf "$G/llama-src.tgz" -C "$sdist_dir" llama-cpp-python/vendor/llama.cpp/gguf-py
gguf_py="$sdist_dir/llama-cpp-python/vendor/llama.cpp/gguf-py"

# The wheels: the versions installed here (what the project is tested with), for CPython 3.12 on x86-64 Linux.
pins=$(python - <<'EOF'
from importlib.metadata import version
names = ["pydantic", "pydantic-core", "pydantic-settings", "python-dotenv", "typing-inspection", "annotated-types",
         "typing-extensions", "diskcache"]
print(" ".join(f"{n}=={version(n)}" for n in names))
EOF
)
# shellcheck disable=SC2086
python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d "$G/whl" $pins

# The tokenizer, from the packaged real 0.5B GGUF (joined from its pip parts on first use).
model=$(python -c 'from app.answer.modelfiles import resolve_model_path; from indexer.settings import load_settings
print(resolve_model_path("", load_settings().home))')
python benchmarks/gpu/random_gguf.py --gguf-py "$gguf_py" --tokenizer-from "$model" --tokenizer-only \
    --out "$G/tokenizer.gguf"
rm -rf "$sdist_dir"

ls -la "$G" "$G/whl"
size=$(du -sb "$G" | cut -f1)
echo "$G: $((size / 1048576)) MiB (a device call carries at most 64 MiB with the working tree)"
[ "$size" -lt $((48 * 1048576)) ] || { echo "too large to carry"; exit 1; }
