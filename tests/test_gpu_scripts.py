"""The GPU run's source trimming (benchmarks/gpu/trim_llama_sdist.py): everything it keeps must unpack under the
one folder the device script builds from. The first real device run failed because long names kept the sdist's
own folder through their PAX headers; this builds a small sdist-like tarball with such a name, no network."""

from __future__ import annotations

import importlib.util
import io
import tarfile
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu" / "trim_llama_sdist.py"


def _trim_module():
    spec = importlib.util.spec_from_file_location("trim_llama_sdist", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _add(tar: tarfile.TarFile, name: str, data: bytes = b"x") -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def test_trimmed_sources_unpack_under_one_folder_even_for_long_names(tmp_path):
    top = "llama_cpp_python-0.3.36"
    instances = f"{top}/vendor/llama.cpp/ggml/src/ggml-cuda/template-instances"
    long_name = f"{instances}/fattn-vec-instance-f16-f16.cu"
    assert len(long_name) > 100  # stored through a PAX "path" header, as in the real sdist
    sdist = tmp_path / f"{top}.tar.gz"
    with tarfile.open(sdist, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        _add(tar, f"{top}/CMakeLists.txt")
        _add(tar, long_name, b"// kernel")
        _add(tar, f"{top}/vendor/llama.cpp/docs/ops/big.csv")  # not needed to build: dropped
        _add(tar, f"{top}/vendor/llama.cpp/ggml/src/ggml-sycl/template-instances/fattn-vec-instance-f16-f16.cpp")

    out = tmp_path / "llama-src.tgz"
    kept, dropped = _trim_module().trim(sdist, out)

    with tarfile.open(out) as tar:
        names = tar.getnames()
        kernel = tar.extractfile("llama-cpp-python/" + long_name.split("/", 1)[1]).read()
    assert (kept, dropped) == (2, 2)
    assert all(n.startswith("llama-cpp-python/") for n in names), names
    assert kernel == b"// kernel"
