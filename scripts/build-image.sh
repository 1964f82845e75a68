#!/usr/bin/env bash
# Build dayone's image: with `docker build` when a Docker engine answers, else with buildah (installed with apt when
# missing). One command:
#
#   ./scripts/build-image.sh                    # the CPU image, tagged dayone:cpu, no baked model
#   ./scripts/build-image.sh --variant cuda     # the CUDA image (MODEL_URL / MODEL_SHA256 from the environment)
#
# Options: --variant cpu|cuda, --tag NAME, --target STAGE (e.g. llama: stop after compiling llama-cpp-python),
# --no-cache (a cold build), --build-arg NAME=VALUE (repeatable, passed through). Environment:
#   MODEL_URL, MODEL_SHA256   the GGUF to bake in (CPU default: none; CUDA default: the Dockerfile's 7B model)
#   CUDA_ARCHITECTURES        GPUs llama.cpp is compiled for (Dockerfile default: 75 to 120)
#   BASE_CPU, BASE_CUDA_DEVEL, BASE_CUDA_RUNTIME, TORCH_INDEX_CPU, TORCH_INDEX_CUDA   see docs/install.md
#   CUDA_HOME                 the CUDA toolkit a stand-in CUDA build base is made from (default /usr/local/cuda)
#
# Package sources reach the build as secrets and a bind mount, never as layers: the pip settings in effect here
# (`pip config list`: index-url, extra-index-url, trusted-host) become the secret pip_conf, the CA bundle pip uses
# becomes pip_ca, and wheels in local find-links folders are linked into docker/wheels/ (git-ignored).
#
# Where a base image cannot be pulled (no registry access, as on the machines this was written on), the script
# builds a stand-in from Debian packages (debootstrap bookworm, Python 3.11) and says so: an image built on a
# stand-in is not the released image (other distribution, other Python), only the same Dockerfile.
set -euo pipefail
cd "$(dirname "$0")/.."

variant=cpu tag="" target="" nocache=() passthrough=()
while [ $# -gt 0 ]; do
    case "$1" in
        --variant) variant="$2"; shift 2 ;;
        --tag) tag="$2"; shift 2 ;;
        --target) target="$2"; shift 2 ;;
        --no-cache) nocache=(--no-cache); shift ;;
        --build-arg) passthrough+=(--build-arg "$2"); shift 2 ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        *) echo "error: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
case "$variant" in cpu|cuda) ;; *) echo "error: --variant must be cpu or cuda, not $variant" >&2; exit 2 ;; esac
tag="${tag:-dayone:$variant}"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
loud() { printf '\033[1;33m!!! %s\033[0m\n' "$*" >&2; }
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"

# -- the engine ------------------------------------------------------------------------------------------------
engine=buildah
if command -v docker >/dev/null 2>&1 && timeout 20 docker info >/dev/null 2>&1; then
    engine=docker
else
    if ! command -v buildah >/dev/null 2>&1; then
        say "no Docker engine answers and buildah is missing: installing buildah with apt"
        $SUDO apt-get install -y -q buildah >/dev/null \
            || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q buildah >/dev/null; }
    fi
    # vfs works on any file system and in nested containers; chroot isolation needs no cgroups or network setup.
    export STORAGE_DRIVER="${STORAGE_DRIVER:-vfs}" BUILDAH_ISOLATION="${BUILDAH_ISOLATION:-chroot}"
fi
bh() { $SUDO env STORAGE_DRIVER="$STORAGE_DRIVER" BUILDAH_ISOLATION="$BUILDAH_ISOLATION" buildah "$@"; }
say "engine: $engine"

have_image() {
    if [ "$engine" = docker ]; then docker image inspect "$1" >/dev/null 2>&1; else bh inspect --type image "$1" >/dev/null 2>&1; fi
}
pull() {
    if [ "$engine" = docker ]; then timeout 300 docker pull -q "$1" >/dev/null 2>&1; else timeout 300 bh pull -q "$1" >/dev/null 2>&1; fi
}

# -- stand-in bases ----------------------------------------------------------------------------------------------
STANDIN=localhost/dayone-standin:bookworm
STANDIN_CUDA=localhost/dayone-standin-cuda-devel:bookworm

commit_rootfs() {  # commit_rootfs ROOTFS IMAGE: a local image whose only layer is ROOTFS
    local ctr mnt
    ctr=$(bh from scratch)
    mnt=$(bh mount "$ctr")
    $SUDO cp -a "$1"/. "$mnt"/
    bh umount "$ctr" >/dev/null
    bh config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd /bin/bash "$ctr"
    bh commit -q "$ctr" "$2" >/dev/null
    bh rm "$ctr" >/dev/null
}

standin_base() {
    have_image "$STANDIN" && return 0
    [ "$engine" = docker ] && { echo "error: base image not pullable; pass BASE_CPU=<your mirror's ubuntu:24.04>" >&2; exit 1; }
    command -v debootstrap >/dev/null 2>&1 || $SUDO apt-get install -y -q debootstrap >/dev/null
    local root; root=$(mktemp -d /var/tmp/dayone-rootfs.XXXXXX)
    say "debootstrap --variant=minbase bookworm (about 2 minutes)"
    $SUDO debootstrap --variant=minbase bookworm "$root" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >/dev/null
    $SUDO rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    commit_rootfs "$root" "$STANDIN"
    $SUDO rm -rf "$root"
}

standin_cuda_devel() {
    # The stand-in base plus a CUDA toolkit (nvcc, headers, cudart) found on this machine, cuBLAS from its pip
    # package, and a libcuda stub generated from cuda.h (the driver exists only on GPU hosts, as in NVIDIA's
    # devel image, whose stub this replaces).
    have_image "$STANDIN_CUDA" && return 0
    local cuda="${CUDA_HOME:-/usr/local/cuda}"
    [ -x "$cuda/bin/nvcc" ] || { echo "error: no CUDA toolkit at $cuda (set CUDA_HOME) for a stand-in CUDA build base" >&2; exit 1; }
    local cuda_ver; cuda_ver=$("$cuda/bin/nvcc" --version | sed -n 's/.*release \([0-9]*\)\.\([0-9]*\).*/\1.\2/p')
    standin_base
    local work; work=$(mktemp -d /var/tmp/dayone-cuda.XXXXXX)
    say "stand-in CUDA devel base: toolkit $cuda (CUDA $cuda_ver), cuBLAS from pip, a generated libcuda stub"
    mkdir -p "$work/cuda"
    cp -a "$(readlink -f "$cuda")"/. "$work/cuda/"
    python3 -m pip download --quiet --no-deps -d "$work/whl" "nvidia-cublas==${cuda_ver%%.*}.*"
    python3 - "$work" <<'PY'
import pathlib, sys, zipfile
work = pathlib.Path(sys.argv[1])
for whl in (work / "whl").glob("*.whl"):
    with zipfile.ZipFile(whl) as z:
        for info in z.infolist():
            parts = pathlib.PurePosixPath(info.filename).parts
            if len(parts) > 3 and parts[0] == "nvidia" and parts[2] in ("lib", "include"):
                dest = work / "cuda" / pathlib.Path(*parts[2:])
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(z.read(info))
PY
    (cd "$work/cuda/lib" && for so in libcublas.so.* libcublasLt.so.*; do ln -sf "$so" "${so%%.so.*}.so"; done)
    mkdir -p "$work/cuda/lib/stubs"
    gcc -E -P -I"$work/cuda/include" "$work/cuda/include/cuda.h" \
        | grep -oE '\bcu[A-Z][A-Za-z0-9_]*[[:space:]]*\(' | tr -d ' (' | sort -u \
        | sed 's/.*/int &(void) { return 999; }/' > "$work/stub.c"
    gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$work/cuda/lib/stubs/libcuda.so" "$work/stub.c"
    local ctr mnt
    ctr=$(bh from "$STANDIN")
    mnt=$(bh mount "$ctr")
    $SUDO mkdir -p "$mnt/usr/local/cuda-$cuda_ver"
    $SUDO cp -a "$work/cuda"/. "$mnt/usr/local/cuda-$cuda_ver/"
    $SUDO ln -sfn "cuda-$cuda_ver" "$mnt/usr/local/cuda"
    echo /usr/local/cuda/lib64 | $SUDO tee "$mnt/etc/ld.so.conf.d/cuda.conf" >/dev/null
    bh umount "$ctr" >/dev/null
    bh run "$ctr" -- ldconfig
    bh config --env PATH=/usr/local/cuda/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --env CUDA_HOME=/usr/local/cuda --env CUDA_VERSION="$cuda_ver" "$ctr"
    bh commit -q "$ctr" "$STANDIN_CUDA" >/dev/null
    bh rm "$ctr" >/dev/null
    rm -rf "$work"
}

dockerfile_default() {  # the Dockerfile's default for ARG $1, its ${CUDA_VERSION}/${UBUNTU_VERSION} expanded
    local value cuda ubuntu
    value=$(sed -n "s/^ARG $1=//p" Dockerfile | head -1 | tr -d '"')
    cuda=$(sed -n 's/^ARG CUDA_VERSION=//p' Dockerfile | head -1)
    ubuntu=$(sed -n 's/^ARG UBUNTU_VERSION=//p' Dockerfile | head -1)
    value=${value//'${CUDA_VERSION}'/$cuda}
    echo "${value//'${UBUNTU_VERSION}'/$ubuntu}"
}

args=(--build-arg VARIANT="$variant")
standin_used=""
resolve_base() {  # resolve_base ARGNAME [cuda-devel]
    local name="$1" image="${!1:-}"
    image="${image:-$(dockerfile_default "$name")}"
    if have_image "$image" || pull "$image"; then
        args+=(--build-arg "$name=$image")
        return
    fi
    if [ "${2:-}" = cuda-devel ]; then standin_cuda_devel; args+=(--build-arg "$name=$STANDIN_CUDA")
    else standin_base; args+=(--build-arg "$name=$STANDIN"); fi
    standin_used+="$name=$image "
}
resolve_base BASE_CPU  # the model stage uses it in both variants
if [ "$variant" = cuda ]; then
    resolve_base BASE_CUDA_DEVEL cuda-devel
    resolve_base BASE_CUDA_RUNTIME
fi
if [ -n "$standin_used" ]; then
    loud "STAND-IN BASE: could not pull ${standin_used}- building on $STANDIN (Debian bookworm from debootstrap)."
    loud "This image is NOT the released one: other distribution, Python 3.11. Pass BASE_*=<your mirror> to avoid it."
fi

# -- package sources -----------------------------------------------------------------------------------------
secrets=$(mktemp -d /tmp/dayone-build.XXXXXX)
trap 'rm -rf "$secrets"' EXIT
ca=$(python3 -m pip config get global.cert 2>/dev/null || true)
ca="${PIP_CERT:-${ca:-/etc/ssl/certs/ca-certificates.crt}}"
python3 - "$secrets/pip.conf" "$ca" <<'PY'
import configparser, os, subprocess, sys
out, ca = sys.argv[1], sys.argv[2]
lines = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True).stdout
keys = {"index-url", "extra-index-url", "trusted-host", "timeout", "default-timeout", "retries"}
conf = configparser.ConfigParser()
conf["global"] = {}
for line in lines.splitlines():
    key, _, value = line.partition("=")
    name = key.rsplit(".", 1)[-1]
    if name in keys:
        value = value.strip().strip("'\"")
        urls = [u for u in value.split() if not u.startswith("file:")]  # local folders do not exist in the build
        if urls:
            conf["global"][name] = " ".join(urls)
if os.path.isfile(ca):
    conf["global"]["cert"] = "/run/secrets/pip_ca"
with open(out, "w") as f:
    conf.write(f)
PY
[ -f "$ca" ] && cp "$ca" "$secrets/ca.crt" || : > "$secrets/ca.crt"
say "pip settings for the build (secret pip_conf, CA bundle ${ca} as pip_ca):"
sed 's/^/    /' "$secrets/pip.conf" >&2
# Wheels in local find-links folders (here: torch's CPU build) reach the build through docker/wheels/; CPU-only
# builds (a "+cpu" local version) go to docker/wheels/cpu/, which only the CPU variant reads.
mkdir -p docker/wheels/cpu docker/wheels/cuda
links=$( { python3 -m pip config list 2>/dev/null | sed -n "s/.*find-links='\(.*\)'/\1/p"; echo "${PIP_FIND_LINKS:-}"; } | tr ' ' '\n' | sort -u)
for dir in $links; do
    dir="${dir#file://}"
    [ -d "$dir" ] || continue
    for whl in "$dir"/*.whl; do
        [ -e "$whl" ] || continue
        dest=docker/wheels; case "$whl" in *+cpu-*) dest=docker/wheels/cpu ;; esac
        [ -e "$dest/$(basename "$whl")" ] || ln "$whl" "$dest/" 2>/dev/null || cp "$whl" "$dest/"
        say "local wheel for the build: $dest/$(basename "$whl")"
    done
done

# torch's index for the variant; where unreachable, the pip index (and docker/wheels) instead, said loudly.
torch_arg=TORCH_INDEX_$(echo "$variant" | tr a-z A-Z)
torch_index="${!torch_arg-$(dockerfile_default "$torch_arg")}"
if [ -n "$torch_index" ] && ! curl -fsS --max-time 15 -o /dev/null "${torch_index%/}/torch/" 2>/dev/null; then
    loud "PyTorch index $torch_index is unreachable: torch comes from the pip index or docker/wheels instead."
    torch_index=""
fi
args+=(--build-arg "$torch_arg=$torch_index")
for name in MODEL_URL MODEL_SHA256 CUDA_ARCHITECTURES; do
    [ -n "${!name+x}" ] && args+=(--build-arg "$name=${!name}")
done
[ "$variant" = cpu ] && [ -z "${MODEL_URL+x}" ] && args+=(--build-arg MODEL_URL=)
[ -n "$target" ] && args+=(--target "$target")
args+=(--secret "id=pip_conf,src=$secrets/pip.conf" --secret "id=pip_ca,src=$secrets/ca.crt")

# -- build -------------------------------------------------------------------------------------------------------
say "building $tag (variant $variant${target:+, target $target}) with $engine"
start=$(date +%s)
if [ "$engine" = docker ]; then
    DOCKER_BUILDKIT=1 docker build "${nocache[@]}" "${args[@]}" "${passthrough[@]}" -t "$tag" .
    size=$(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.2f GB", $1 / 1e9}')
else
    # docker format: OCI images drop SHELL and HEALTHCHECK.
    bh bud --format docker --isolation chroot --layers "${nocache[@]}" "${args[@]}" "${passthrough[@]}" -t "$tag" .
    size=$(bh images --format '{{.Size}}' "$tag" 2>/dev/null | head -1)
fi
secs=$(( $(date +%s) - start ))
say "built $tag in $((secs / 60)) min $((secs % 60)) s; image size ${size:-unknown}"
[ -n "$standin_used" ] && loud "Built on the STAND-IN base (see above), not on ${standin_used}"
exit 0
