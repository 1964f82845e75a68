# syntax=docker/dockerfile:1.7
#
# dayone: the chat for new hires, with llama.cpp compiled for NVIDIA GPUs (default) or for CPUs only.
#
#   docker build -t dayone .                                   # CUDA build, 7B coding model baked in
#   docker build -t dayone:cpu --build-arg VARIANT=cpu --build-arg MODEL_URL= .   # CPU only, small model
#
# Stages: build-cuda / build-cpu (compilers; llama-cpp-python is compiled here by scripts/install.sh, the same
# script CI runs) -> model (fetches the GGUF and checks its sha256) -> runtime-cuda / runtime-cpu (no
# compilers) -> the final image. Only the stages of the chosen VARIANT are built. See docs/install.md.

ARG VARIANT=cuda
ARG CUDA_VERSION=13.0.1
ARG UBUNTU_VERSION=24.04
# Base images. Defaults are the public ones; point them at your registry mirror (see docs/install.md,
# "Air-gapped build"). Each build base must carry the same distribution and Python as its runtime base: the
# virtual environment is copied from one to the other. The CUDA run-time base is NVIDIA's small `base` image
# (the CUDA runtime and the driver hooks only): cuBLAS and the other CUDA libraries come once, as the pip
# packages torch's CUDA build depends on, and llama.cpp uses those same files (see the ldconfig step below).
ARG BASE_CPU=ubuntu:${UBUNTU_VERSION}
ARG BASE_CUDA_DEVEL=nvidia/cuda:${CUDA_VERSION}-devel-ubuntu${UBUNTU_VERSION}
ARG BASE_CUDA_RUNTIME=nvidia/cuda:${CUDA_VERSION}-base-ubuntu${UBUNTU_VERSION}
# Where torch comes from: PyTorch's index for the variant (its CUDA matches CUDA_VERSION). Empty: the pip index
# in effect (PyPI, or your mirror through the pip_conf secret), whose torch 2.13 is the CUDA 13.0 build.
ARG TORCH_INDEX_CPU=https://download.pytorch.org/whl/cpu
ARG TORCH_INDEX_CUDA=https://download.pytorch.org/whl/cu130
# The answering model, fetched at build time and checked against MODEL_SHA256 (both required together).
# Empty MODEL_URL: nothing is baked in; the image then answers with the small model shipped in its Python
# packages (Qwen2.5-Coder-0.5B), or with a GGUF you mount at /models and name in DAYONE_LLM__MODEL_PATH.
ARG MODEL_URL=https://huggingface.co/Qwen/Qwen2.5-Coder-7B-Instruct-GGUF/resolve/main/qwen2.5-coder-7b-instruct-q4_k_m.gguf
ARG MODEL_SHA256=""

# ---------------------------------------------------------------------------------------------------------
# Build stages: a Python virtual environment in /opt/venv with dayone and everything it needs.
#
# Package sources never enter a layer: every step that runs pip mounts, for that step only,
#   - the build secret `pip_conf` (a pip.conf: index-url / extra-index-url of your mirror, `cert =
#     /run/secrets/pip_ca`), e.g. `docker build --secret id=pip_conf,src=pip.conf --secret id=pip_ca,src=ca.crt`;
#     without it pip uses PyPI;
#   - docker/wheels/ from the build context (empty in git): wheels put there, or in docker/wheels/cpu/ or
#     docker/wheels/cuda/ for one variant only (torch's CPU build), are preferred to the index.

FROM ${BASE_CUDA_DEVEL} AS build-cuda
# Turing, Ampere (A100, RTX 30), Ada (L4, L40S, RTX 40), Hopper (H100, H200), Blackwell (B200, RTX 50). Each
# entry also carries PTX, so newer GPUs (e.g. DGX Spark's GB10, sm_121) JIT-compile from the 120 code.
ARG CUDA_ARCHITECTURES="75;80;86;89;90;100;120"
ARG TORCH_INDEX_CUDA
ENV CMAKE_ARGS="-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=${CUDA_ARCHITECTURES} -DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF" \
    DAYONE_TORCH_INDEX_URL=${TORCH_INDEX_CUDA}
# The driver's libcuda.so.1 exists only when a container runs on a GPU host; the build links, and the
# install check imports llama_cpp, against the toolkit's stub. This stage is discarded, so is the stub path.
RUN ln -sf /usr/local/cuda/lib64/stubs/libcuda.so /usr/local/cuda/lib64/stubs/libcuda.so.1
ENV LD_LIBRARY_PATH=/usr/local/cuda/lib64/stubs

FROM ${BASE_CPU} AS build-cpu
# torch's CPU build (about 200 MB instead of several GB of CUDA libraries) and a portable llama.cpp build.
ARG TORCH_INDEX_CPU
ENV CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF" \
    DAYONE_TORCH_INDEX_URL=${TORCH_INDEX_CPU}

# A stage picked by VARIANT (build-cuda or build-cpu above), not an image from a registry.
# hadolint ignore=DL3006
FROM build-${VARIANT} AS build-tools
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Distribution packages follow the base image's release; the image is rebuilt to pick up security fixes.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv python3-dev build-essential git \
        ca-certificates \
    && rm -rf /var/lib/apt/lists/*
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PIP_NO_CACHE_DIR=1 \
    PIP_CONFIG_FILE=/run/secrets/pip_conf \
    DAYONE_EDITABLE=0
RUN python3 -m venv /opt/venv
WORKDIR /src

# llama-cpp-python compiled into a wheel on its own (the longest step, minutes on CPU, much longer with CUDA):
# it depends only on pyproject.toml and CMAKE_ARGS, so a change to dayone's code or docs does not redo it.
FROM build-tools AS llama
COPY pyproject.toml ./
COPY scripts/install.sh scripts/install.sh
RUN --mount=type=secret,id=pip_conf --mount=type=secret,id=pip_ca \
    --mount=type=bind,source=docker/wheels,target=/opt/wheelhouse \
    PIP_FIND_LINKS=/opt/wheelhouse DAYONE_LLAMA_WHEEL_DIR=/opt/llama-wheel ./scripts/install.sh

FROM build-tools AS build
ARG VARIANT
# Copied, not bind-mounted from the stage: buildah 1.28 mounts nothing from a stage it took from its cache, and pip
# then compiled llama.cpp again on every code change. This stage is discarded, so the copy costs the image nothing.
COPY --from=llama /opt/llama-wheel /opt/llama-wheel
COPY pyproject.toml README.md ./
COPY scripts/install.sh scripts/install.sh
COPY app/ app/
COPY indexer/ indexer/
# The one install script CI also runs (.ci/run): what the image installs is what the tests ran against.
RUN --mount=type=secret,id=pip_conf --mount=type=secret,id=pip_ca \
    --mount=type=bind,source=docker/wheels,target=/opt/wheelhouse \
    PIP_FIND_LINKS="/opt/llama-wheel /opt/wheelhouse /opt/wheelhouse/${VARIANT}" ./scripts/install.sh
# Test suites, torch's C++ headers and test binaries, symbol tables and duplicate library copies out (about 0.45 GB
# on CPU), then a load check of what the image runs: see the script.
COPY docker/slim-venv.sh /tmp/slim-venv.sh
RUN /tmp/slim-venv.sh /opt/venv

# ---------------------------------------------------------------------------------------------------------
# The answering model: downloaded once at build time, never at run time.

FROM ${BASE_CPU} AS model
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ARG MODEL_URL
ARG MODEL_SHA256
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN mkdir -p /opt/dayone/models \
    && if [ -n "${MODEL_URL}" ]; then \
        if [ -z "${MODEL_SHA256}" ]; then \
            echo "error: MODEL_URL needs MODEL_SHA256 (the file's sha256, shown on its download page), or build with --build-arg MODEL_URL= for no baked model" >&2; \
            exit 1; \
        fi; \
        curl -fL --retry 5 --retry-delay 10 -o /opt/dayone/models/model.gguf "${MODEL_URL}" \
        && echo "${MODEL_SHA256}  /opt/dayone/models/model.gguf" | sha256sum -c - ; \
    fi

# ---------------------------------------------------------------------------------------------------------
# Run-time stages: no compilers, no build tools.

FROM ${BASE_CUDA_RUNTIME} AS runtime-cuda
FROM ${BASE_CPU} AS runtime-cpu

# A stage picked by VARIANT (runtime-cuda or runtime-cpu above).
# hadolint ignore=DL3006
FROM runtime-${VARIANT}
ARG MODEL_URL
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# git and ssh read the repositories to index; libgomp1 is llama.cpp's OpenMP runtime. Repositories mounted from
# the host belong to another uid, which git refuses by default ("dubious ownership"); dayone runs git with hooks
# and fsmonitor switched off (indexer/sources/), so the image trusts every mounted repository.
# Manuals, docs and translations of these packages are left out (about 70 MB; the copyright files stay).
# hadolint ignore=DL3008
RUN printf '%s\n' 'path-exclude=/usr/share/doc/*' 'path-include=/usr/share/doc/*/copyright' \
        'path-exclude=/usr/share/man/*' 'path-exclude=/usr/share/info/*' 'path-exclude=/usr/share/locale/*' \
        > /etc/dpkg/dpkg.cfg.d/dayone-slim \
    && apt-get update \
    && apt-get install -y --no-install-recommends python3 git openssh-client ca-certificates libgomp1 tzdata \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
    && groupadd --system --gid 10001 dayone \
    && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/dayone --shell /usr/sbin/nologin dayone \
    && mkdir -p /data /models \
    && chown dayone:dayone /data \
    && git config --system safe.directory '*'
COPY --from=build /opt/venv /opt/venv
# The CUDA libraries torch's pip packages bring (nvidia/cu13/lib: cuBLAS, cuDNN...) are the only copy in the image:
# the dynamic linker learns their folder, so llama.cpp's CUDA backend loads the same cuBLAS. Nothing on CPU.
RUN find /opt/venv -type d -path '*/site-packages/nvidia/*/lib' | sort > /etc/ld.so.conf.d/dayone-nvidia.conf \
    && ldconfig
COPY --from=model /opt/dayone/models /opt/dayone/models
COPY docker/healthcheck.py docker/cron.py /opt/dayone/docker/
# Every library's hub access and telemetry off (the same list as indexer/offline.py, which the code also
# applies); the index, clones and the joined small model live in the /data volume.
# These two names contain "TOKEN" but hold on/off switches, not secrets.
# hadolint ignore=DL3064
ENV HF_HUB_DISABLE_IMPLICIT_TOKEN=1 \
    TOKENIZERS_PARALLELISM=false
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HF_DATASETS_OFFLINE=1 \
    HF_HUB_DISABLE_TELEMETRY=1 \
    HF_HUB_DISABLE_UPDATE_CHECK=1 \
    DISABLE_TELEMETRY=1 \
    DO_NOT_TRACK=1 \
    GRADIO_ANALYTICS_ENABLED=False \
    ANONYMIZED_TELEMETRY=False \
    SENTENCE_TRANSFORMERS_HOME=/dev/null \
    DAYONE_HOME=/data \
    DAYONE_SERVE__HOST=0.0.0.0 \
    DAYONE_SERVE__PORT=7860 \
    DAYONE_LLM__MODEL_PATH=${MODEL_URL:+/opt/dayone/models/model.gguf}
# The console script must start in the final image (catches a venv that does not fit this Python).
RUN dayone --help > /dev/null
USER 10001:10001
WORKDIR /data
EXPOSE 7860
HEALTHCHECK --interval=30s --timeout=10s --start-period=180s --retries=3 \
    CMD ["python", "/opt/dayone/docker/healthcheck.py"]
ENTRYPOINT ["dayone"]
CMD ["serve"]
