"""Model backends for answering: llama.cpp in-process (the default) or any OpenAI-compatible server.

Both give the same small interface, `ChatModel`: `stream(messages, max_tokens, temperature)` yields the answer's
text as it is generated, `context_size` is the window the prompt must fit in, `count_tokens` measures text in
the model's own tokens.

`LlamaCppModel` formats messages with the chat template stored in the GGUF file (llama-cpp-python's
`create_chat_completion` does that when no chat format is forced), offloads every layer to the GPU when the
build has CUDA/Metal and a GPU is present, and runs on the CPU otherwise. A new question starts from an empty
KV cache, so temperature 0 gives the same answer every time; a follow-up in the same conversation keeps the
evaluated prefix (`reuse_prefix=True`), so its first token comes in a fraction of the time.

`OpenAICompatibleModel` talks to a llama.cpp server, vLLM or llama-cpp-python's server inside the building, so
many dayone replicas can share one GPU machine. Nothing here ever downloads a model.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from app.answer.modelfiles import (
    ModelFileError,
    check_adapter_file,
    check_gguf_file,
    default_model,
    resolve_adapter_path,
    resolve_model_path,
)
from app.settings import LLMSettings, Settings

log = logging.getLogger(__name__)

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": str}
MESSAGE_OVERHEAD = 8  # role markers a chat template adds around each message (ChatML uses 5)


class ModelError(Exception):
    """The model cannot be loaded or reached; the message names the file or server and says why."""


@dataclass
class GenerationStats:
    """What the last `stream` call did, for logs and benchmarks."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    first_token_s: float = 0.0
    total_s: float = 0.0
    finish_reason: str | None = None

    @property
    def tokens_per_s(self) -> float:
        gen = self.total_s - self.first_token_s
        return (self.completion_tokens - 1) / gen if gen > 0 and self.completion_tokens > 1 else 0.0


class ChatModel(ABC):
    """A chat model: messages in, streamed text out."""

    name: str
    context_size: int
    last_stats: GenerationStats

    @abstractmethod
    def stream(self, messages: list[Message], max_tokens: int = 256, temperature: float = 0.0, *,
               reuse_prefix: bool = False) -> Iterator[str]:
        """Yield the reply's text in pieces. `reuse_prefix`: the messages continue the previous call's
        conversation, so a backend may keep what it already evaluated."""

    @abstractmethod
    def count_tokens(self, text: str) -> int: ...

    def count_messages(self, messages: list[Message]) -> int:
        """Tokens the messages take in a prompt, template markers included (a slight overestimate)."""
        return sum(self.count_tokens(m["content"]) + MESSAGE_OVERHEAD for m in messages) + MESSAGE_OVERHEAD

    def complete(self, messages: list[Message], max_tokens: int = 256, temperature: float = 0.0) -> str:
        return "".join(self.stream(messages, max_tokens, temperature))

    @contextlib.contextmanager
    def aside(self) -> Iterator[None]:
        """Run a side request (e.g. condensing a follow-up) without losing the conversation's cached prefix."""
        yield

    def close(self) -> None:  # noqa: B027 - optional for backends that hold nothing
        pass


# -- llama.cpp in-process ----------------------------------------------------------------------------------------

def default_threads() -> int:
    """Half the cores, at least one. Generation is memory-bound: more threads than that gain little on an idle
    machine and collapse throughput when other work shares the CPU (see docs/answering.md)."""
    return max(1, (os.cpu_count() or 2) // 2)


def llama_gpu() -> bool:
    """Whether this llama.cpp build can offload layers to a GPU that is present (CUDA/Metal); False without
    llama-cpp-python. `LlamaCppModel` places its layers by it, and `search.rerank = "auto"` follows it."""
    try:
        import llama_cpp
    except ImportError:
        return False
    return bool(llama_cpp.llama_supports_gpu_offload())


class LlamaCppModel(ChatModel):
    def __init__(self, path: Path, *, n_ctx: int = 4096, n_threads: int = 0, n_gpu_layers: int = -1,
                 seed: int = 42, verbose: bool = False, lora_path: Path | None = None):
        info = check_gguf_file(path)
        if lora_path is not None:
            check_adapter_file(lora_path, info)
        if not info.chat_template:
            raise ModelFileError(f"{path} has no chat template (tokenizer.chat_template): it is a base model; "
                                 f"dayone needs an instruct/chat GGUF")
        # With OpenMP builds, idle threads spin by default and fight other processes for the CPU.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        try:
            import llama_cpp
        except ImportError as exc:
            raise ModelError(f"llama-cpp-python is not installed ({exc}); run scripts/install.sh") from None
        self.gpu = llama_gpu()
        self.n_gpu_layers = (-1 if n_gpu_layers < 0 else n_gpu_layers) if self.gpu else 0
        self.n_threads = n_threads or default_threads()
        self.seed = seed
        self.path = path
        self.name = str(info.metadata.get("general.name") or path.stem) + (f" + {lora_path.parent.name}"
                                                                            if lora_path else "")
        self.lora_path = lora_path
        trained = info.context_length or n_ctx
        started = time.perf_counter()
        try:
            self._llm = llama_cpp.Llama(
                model_path=str(path), n_ctx=min(n_ctx, trained), n_threads=self.n_threads,
                n_threads_batch=max(self.n_threads, default_threads()), n_gpu_layers=self.n_gpu_layers,
                seed=seed, verbose=verbose, lora_path=str(lora_path) if lora_path else None,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelError(f"llama.cpp could not load {path}: {' '.join(str(exc).split())}") from None
        self.load_seconds = time.perf_counter() - started
        self.context_size = self._llm.n_ctx()
        self.chat_format = self._llm.chat_format  # "chat_template.default" or a format guessed from it
        self.last_stats = GenerationStats()
        self._lock = threading.RLock()

    def count_tokens(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def stream(self, messages: list[Message], max_tokens: int = 256, temperature: float = 0.0, *,
               reuse_prefix: bool = False) -> Iterator[str]:
        with self._lock:
            if not reuse_prefix:
                self._llm.reset()  # evaluate from scratch: the same question gives the same answer
            stats = self.last_stats = GenerationStats()
            started = time.perf_counter()
            try:
                chunks = self._llm.create_chat_completion(
                    messages=messages, max_tokens=max_tokens, temperature=temperature, seed=self.seed,
                    stream=True,
                )
                for chunk in chunks:
                    choice = chunk["choices"][0]
                    if choice.get("finish_reason"):
                        stats.finish_reason = choice["finish_reason"]
                    piece = choice.get("delta", {}).get("content")
                    if piece:
                        if not stats.completion_tokens:
                            stats.first_token_s = time.perf_counter() - started
                        stats.completion_tokens += 1
                        yield piece
            except ValueError as exc:  # e.g. the prompt does not fit the context window
                raise ModelError(f"generation failed: {' '.join(str(exc).split())}") from None
            finally:
                stats.total_s = time.perf_counter() - started
                stats.prompt_tokens = max(self._llm.n_tokens - stats.completion_tokens, 0)

    @contextlib.contextmanager
    def aside(self) -> Iterator[None]:
        with self._lock:
            state = self._llm.save_state() if self._llm.n_tokens else None
            try:
                yield
            finally:
                if state is not None:
                    self._llm.load_state(state)

    def close(self) -> None:
        with self._lock:
            llm, self._llm = self._llm, None
            if llm is not None:
                llm.close()


# -- OpenAI-compatible HTTP ----------------------------------------------------------------------------------------

class OpenAICompatibleModel(ChatModel):
    """`/v1/chat/completions` with server-sent events; works with llama.cpp's server, vLLM and others."""

    def __init__(self, base_url: str, *, model: str = "", api_key: str = "", n_ctx: int = 4096,
                 timeout_s: float = 300.0):
        import httpx

        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=self.base_url, headers=headers,
                                  timeout=httpx.Timeout(timeout_s, connect=10.0))
        self._httpx = httpx
        try:
            resp = self._http.get("/models")
        except httpx.HTTPError as exc:
            raise ModelError(f"cannot reach the model server at {self.base_url}: {exc}") from None
        if resp.status_code == 401 or resp.status_code == 403:
            raise ModelError(f"the model server at {self.base_url} refused the API key (HTTP {resp.status_code}); "
                             f"set llm.openai_api_key")
        listed: list[dict] = []
        if resp.status_code == 200:
            with contextlib.suppress(ValueError, AttributeError):
                listed = [m for m in resp.json().get("data", []) if isinstance(m, dict)]
        ids = [str(m.get("id")) for m in listed]
        if model and ids and model not in ids:
            raise ModelError(f"the model server at {self.base_url} serves {', '.join(ids)}, not {model!r}; "
                             f"fix llm.openai_model")
        if not model and not ids:
            raise ModelError(f"the model server at {self.base_url} lists no models (GET /models gave HTTP "
                             f"{resp.status_code}); set llm.openai_model")
        self.name = model or ids[0]
        served = next((m for m in listed if m.get("id") == self.name), {})
        server_ctx = served.get("max_model_len") or (served.get("meta") or {}).get("n_ctx_train")
        self.context_size = min(n_ctx, int(server_ctx)) if isinstance(server_ctx, int) else n_ctx
        self.last_stats = GenerationStats()
        self._tokenize_route: str | None = None
        self._tokenize_probed = False

    def stream(self, messages: list[Message], max_tokens: int = 256, temperature: float = 0.0, *,
               reuse_prefix: bool = False) -> Iterator[str]:
        body = {"model": self.name, "messages": messages, "max_tokens": max_tokens, "temperature": temperature,
                "stream": True, "seed": 42}
        stats = self.last_stats = GenerationStats()
        started = time.perf_counter()
        try:
            with self._http.stream("POST", "/chat/completions", json=body) as resp:
                if resp.status_code != 200:
                    resp.read()
                    detail = " ".join(resp.text.split())[:300]
                    raise ModelError(f"the model server at {self.base_url} answered HTTP {resp.status_code}: "
                                     f"{detail}")
                for line in resp.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    try:
                        event = json.loads(data)
                    except ValueError:
                        continue
                    if event.get("usage"):
                        stats.prompt_tokens = int(event["usage"].get("prompt_tokens") or 0)
                    choices = event.get("choices") or []
                    if not choices:
                        continue
                    if choices[0].get("finish_reason"):
                        stats.finish_reason = choices[0]["finish_reason"]
                    piece = (choices[0].get("delta") or {}).get("content")
                    if piece:
                        if not stats.completion_tokens:
                            stats.first_token_s = time.perf_counter() - started
                        stats.completion_tokens += 1
                        yield piece
        except self._httpx.HTTPError as exc:
            raise ModelError(f"the model server at {self.base_url} failed: {exc}") from None
        finally:
            stats.total_s = time.perf_counter() - started

    def count_tokens(self, text: str) -> int:
        """The server's own tokenizer when it has a tokenize route (llama-cpp-python, llama.cpp, vLLM);
        otherwise an estimate that errs on the long side (code averages over 3 characters per token)."""
        if not self._tokenize_probed:
            self._tokenize_probed = True
            root = self.base_url.removesuffix("/v1")
            for url in (f"{root}/extras/tokenize/count", f"{root}/tokenize"):
                with contextlib.suppress(Exception):
                    if self._tokenize(url, "hello world") > 0:
                        self._tokenize_route = url
                        break
        if self._tokenize_route is not None:
            with contextlib.suppress(Exception):
                return self._tokenize(self._tokenize_route, text)
        return len(text) // 3 + 1

    def _tokenize(self, url: str, text: str) -> int:
        # llama-cpp-python reads "input", llama.cpp "content", vLLM "prompt"; each ignores the others.
        body = {"model": self.name, "input": text, "content": text, "prompt": text, "add_special": False}
        resp = self._http.post(url, json=body, timeout=30.0)
        resp.raise_for_status()
        data = resp.json()
        if isinstance(data.get("count"), int):
            return data["count"]
        return len(data["tokens"])

    def close(self) -> None:
        self._http.close()


# -- loading -----------------------------------------------------------------------------------------------------

_loaded: dict[tuple, ChatModel] = {}
_loading = threading.Lock()


@atexit.register
def _close_loaded() -> None:
    """Free the models before the interpreter tears down llama_cpp's module globals: left to the garbage
    collector at exit, Llama.__del__ prints a TypeError traceback on every process that loaded one."""
    for model in list(_loaded.values()):
        with contextlib.suppress(Exception):
            model.close()
    _loaded.clear()


def load_chat_model(settings: Settings) -> ChatModel:
    """The configured model, loaded once per process (a server answers many questions with one model)."""
    llm: LLMSettings = settings.llm
    if llm.backend == "openai":
        if not llm.openai_base_url:
            raise ModelError("llm.backend is 'openai' but llm.openai_base_url is empty; set it to the server's "
                             "/v1 URL, e.g. http://gpu-server:8000/v1")
        key: tuple = ("openai", llm.openai_base_url, llm.openai_model, llm.openai_api_key, llm.n_ctx)
        with _loading:
            if key not in _loaded:
                _loaded[key] = OpenAICompatibleModel(llm.openai_base_url, model=llm.openai_model,
                                                     api_key=llm.openai_api_key, n_ctx=llm.n_ctx)
            return _loaded[key]
    model_path = llm.model_path
    if not model_path:
        model_path, why = default_model()
        log.info("answering model: %s (llm.model_path is empty: %s)", model_path, why)
    path = resolve_model_path(model_path, settings.home)
    lora = resolve_adapter_path(llm.lora_path, settings.home) if llm.lora_path else None
    key = ("llama-cpp", str(path.resolve()), llm.n_ctx, llm.n_threads, llm.n_gpu_layers, str(lora or ""))
    with _loading:
        if key not in _loaded:
            _loaded[key] = LlamaCppModel(path, n_ctx=llm.n_ctx, n_threads=llm.n_threads,
                                         n_gpu_layers=llm.n_gpu_layers, lora_path=lora)
        return _loaded[key]


__all__ = ["ChatModel", "GenerationStats", "LlamaCppModel", "Message", "ModelError", "ModelFileError",
           "OpenAICompatibleModel", "default_threads", "llama_gpu", "load_chat_model"]
