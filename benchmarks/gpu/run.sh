#!/usr/bin/env bash
# On the GPU machine, from the repository root, with .gpu/ prepared as benchmarks/gpu/README.md says.
set -o pipefail
export PYTHONUNBUFFERED=1
t0=$(date +%s); el() { echo "[+$(( $(date +%s) - t0 ))s] $*"; }
OUT=${OUT:-/tmp/gpu-bench}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/whl/*.whl
export PYTHONPATH=/tmp/site:$PWD
export TIKTOKEN_CACHE_DIR=/tmp/site/llama_index/core/_static/tiktoken_cache  # llama-index ships the encodings
python3 .gpu/prep.py 2>&1 | grep -E '^\{' | tee "$OUT/prep.log"
export DAYONE_EMBEDDING__MODEL_PATH=/tmp/model
mkdir -p /tmp/dj && tar xzf .gpu/django-py.tgz -C /tmp/dj
el raw
python3 benchmarks/bench_index.py raw --repo /tmp/dj --raw-sample 8000 --work /tmp/gw 2>/dev/null | tee "$OUT/raw.log"
el fp16
python3 .gpu/fp16.py 2>/dev/null | tee "$OUT/fp16.log"
el compare
python3 benchmarks/bench_index.py compare --repo /tmp/dj --li-subset django --rounds "${ROUNDS:-2}" \
    --variants torch,llamaindex-b64,llamaindex --py-only --work /tmp/gw 2>/dev/null | tee "$OUT/compare.log"
el done
