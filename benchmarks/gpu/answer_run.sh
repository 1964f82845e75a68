#!/usr/bin/env bash
# Answer speed on the GPU machine, in one device call: build llama-cpp-python with CUDA from the trimmed sources,
# write shape-true random Qwen2.5-Coder GGUFs (speed only), time them through dayone's LlamaCppModel.
# From the repository root, with .gpu-answer/ made by answer_prep.sh and carried; README.md has the exact call.
#
# Settings (environment): MODELS (default "7b 0.5b 1.5b 14b", in that order of importance), PROMPTS ("1024 4096"),
# REPEATS (3), MAX_TOKENS (128 generated per answer), BUDGET_S (seconds before it skips what is left; 480),
# CMAKE_ARGS (default: CUDA for sm_90, no llava, no NCCL, no flash-attention kernels: dayone runs with flash_attn off
# and they are half of ggml-cuda's compile; the H200 built the rest in 224 s), FA ("1": also time 7B with flash
# attention on; needs CMAKE_ARGS without -DGGML_CUDA_FA=OFF).
# Results in $OUT (the device tool brings them back): run.log, build-tail.log, gen.jsonl, answer-speed.{jsonl,md},
# answer-speed-fa.{jsonl,md}. Build outputs and models go to .gpu-answer-build/ (ignored, not carried), so a
# second call on the same warm machine skips what the first finished.
#
# Dry run on a CPU-only machine (everything but the CUDA flag):
#   PY=<a Python 3.12 with numpy, jinja2, pyyaml, scikit-build-core> CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF" \
#       MODELS=0.5b PROMPTS=256 REPEATS=1 MAX_TOKENS=16 EXPECT_GPU=0 FA=0 BUDGET_S=3000 OUT=/tmp/answer-dry \
#       bash benchmarks/gpu/answer_run.sh
set -o pipefail
export PYTHONUNBUFFERED=1
T0=$(date +%s)
el() { echo "[+$(($(date +%s) - T0))s] $*"; }
left() { echo $((${BUDGET_S:-480} - ($(date +%s) - T0))); }
OUT=${OUT:-/tmp/gpu-answer}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/run.log") 2>&1

G=$PWD/.gpu-answer
B=$PWD/.gpu-answer-build
MODELS=${MODELS:-"7b 0.5b 1.5b 14b"}
PROMPTS=${PROMPTS:-"1024 4096"}
REPEATS=${REPEATS:-3}
MAX_TOKENS=${MAX_TOKENS:-128}
EXPECT_GPU=${EXPECT_GPU:-1}
CMAKE_ARGS=${CMAKE_ARGS:-"-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=90 -DLLAVA_BUILD=OFF -DGGML_CUDA_NCCL=OFF -DGGML_CUDA_FA=OFF"}
PY=${PY:-python3}
[ -f "$G/llama-src.tgz" ] || { echo "no $G/llama-src.tgz: run benchmarks/gpu/answer_prep.sh and carry .gpu-answer"; exit 2; }
mkdir -p "$B/models"

el "machine"
nproc; free -g | head -2; df -h "$B" | tail -1
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv
command -v nvcc >/dev/null && nvcc --version | tail -2
$PY --version

el "wheels"
$PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$B/site" "$G"/whl/*.whl \
    || { echo "wheel install failed"; exit 3; }
export PYTHONPATH=$B/site:$PWD

SRC=$B/src/llama-cpp-python
[ -d "$SRC" ] || { mkdir -p "$B/src" && tar xzf "$G/llama-src.tgz" -C "$B/src"; }
GGUF_PY=$SRC/vendor/llama.cpp/gguf-py

# Random models, in the background while the build runs (one core; the build takes the rest).
gen() {
    for m in $MODELS; do
        f=$B/models/qwen2.5-coder-$m-random-q4_k_m.gguf
        [ -s "$f" ] && continue
        $PY benchmarks/gpu/random_gguf.py --gguf-py "$GGUF_PY" --tokenizer-from "$G/tokenizer.gguf" --model "$m" \
            --out "$f.part" >>"$OUT/gen.jsonl" && mv "$f.part" "$f"
    done
}
gen &
GEN_PID=$!

el "build: CMAKE_ARGS=$CMAKE_ARGS"
[ -d /usr/local/cuda/lib64 ] && export LD_LIBRARY_PATH=/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
if [ "$EXPECT_GPU" = 1 ] && ! ls /usr/local/cuda/lib64/libcublas.so >/dev/null 2>&1; then
    # No cuBLAS beside nvcc: use the pip one that torch loads (nvidia-cublas), through a folder of plain names.
    roots=$($PY -c 'import nvidia; print(" ".join(nvidia.__path__))' 2>/dev/null)
    lib=$(find $roots / \( -path /proc -o -path /sys -o -path /dev \) -prune -o -name 'libcublas.so.1[0-9]*' -print \
          2>/dev/null | head -1)
    inc=$(find $roots / \( -path /proc -o -path /sys -o -path /dev \) -prune -o -name cublas_v2.h -print \
          2>/dev/null | head -1)
    echo "no /usr/local/cuda/lib64/libcublas.so; found lib=$lib include=$inc"
    if [ -n "$lib" ] && [ -n "$inc" ]; then
        shim=$B/cublas-shim && mkdir -p "$shim"
        ln -sf "$lib" "$shim/libcublas.so"
        ln -sf "$(ls "$(dirname "$lib")"/libcublasLt.so.1[0-9]* | head -1)" "$shim/libcublasLt.so"
        CMAKE_ARGS="$CMAKE_ARGS -DCUDA_cublas_LIBRARY=$shim/libcublas.so -DCUDA_cublasLt_LIBRARY=$shim/libcublasLt.so"
        CMAKE_ARGS="$CMAKE_ARGS -DCMAKE_CUDA_FLAGS=-I$(dirname "$inc") -DCMAKE_CXX_FLAGS=-I$(dirname "$inc")"
        export LD_LIBRARY_PATH=$(dirname "$lib")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    fi
fi
if ! ls "$B"/wheel/llama_cpp_python-*.whl >/dev/null 2>&1; then
    t=$(date +%s)
    CMAKE_ARGS="$CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) \
        $PY -m pip wheel --no-index --no-deps --no-build-isolation --no-cache-dir -w "$B/wheel" \
        --config-settings=build-dir="$B/cmake-build" "$SRC" >"$B/build.log" 2>&1
    rc=$?
    tail -n 60 "$B/build.log" >"$OUT/build-tail.log"
    el "build exit $rc after $(($(date +%s) - t)) s"
    [ $rc = 0 ] || { grep -n -i -m 20 "error" "$B/build.log"; kill $GEN_PID 2>/dev/null; exit 4; }
fi
$PY -m pip install -q --no-index --no-deps --no-compile --upgrade --target "$B/site" "$B"/wheel/llama_cpp_python-*.whl
$PY -c "import llama_cpp, sys; g = llama_cpp.llama_supports_gpu_offload(); print('llama_cpp', llama_cpp.__version__, \
'gpu offload', g); sys.exit(0 if g or '$EXPECT_GPU' != '1' else 5)" || { echo "built without GPU offload"; exit 5; }

el "waiting for the random models"
wait $GEN_PID
el "models: $(ls "$B/models" | tr '\n' ' ')"

el "timing (budget left $(left) s)"
for m in $MODELS; do
    f=$B/models/qwen2.5-coder-$m-random-q4_k_m.gguf
    [ -s "$f" ] || { echo "skip $m: no model file"; continue; }
    [ "$(left)" -gt 45 ] || { echo "skip $m: budget spent"; continue; }
    # shellcheck disable=SC2086
    timeout "$(left)" $PY benchmarks/gpu/answer_speed.py "$f" --label "Qwen2.5-Coder-$m Q4_K_M (random weights)" \
        --prompts $PROMPTS --repeats "$REPEATS" --max-tokens "$MAX_TOKENS" --out "$OUT"
done
if [ "${FA:-0}" = 1 ] && [ "$(left)" -gt 45 ]; then
    f=$B/models/qwen2.5-coder-7b-random-q4_k_m.gguf
    [ -s "$f" ] && timeout "$(left)" $PY benchmarks/gpu/answer_speed.py "$f" --name answer-speed-fa \
        --label "Qwen2.5-Coder-7b Q4_K_M (random weights), flash_attn on" --prompts $PROMPTS \
        --repeats "$REPEATS" --max-tokens "$MAX_TOKENS" --llama-kwargs '{"flash_attn": true}' --out "$OUT"
fi
el "done"
