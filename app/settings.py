"""dayone's settings, app side: the sections only the app reads, composed with the index's into one `Settings`.

dayone.toml and `DAYONE_*` variables describe this one class; indexer/settings.py owns loading (file, precedence,
one-line errors) and the index's sections, so indexer/ never imports app/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from app.tune.settings import TuneSettings
from indexer.settings import IndexerSettings
from indexer.settings import load_settings as _load


class SearchSettings(BaseModel):
    model_config = {"extra": "forbid"}

    k: int = Field(default=10, ge=1, le=200)
    max_hits_per_file: int = Field(default=2, ge=1)
    candidates: int = Field(default=60, ge=10)
    # The chat model reorders the first `rerank_files` files of each search (app/search/rerank.py): "auto" does
    # it only where llama.cpp offloads to a GPU, since on a CPU it costs seconds per question. Off by default:
    # the 0.5B and 1.5B models gained nothing on the realistic eval (docs/retrieval.md, "Rerank with the local
    # model"); turn it on for a bigger model after `dayone eval --realistic --rerank` says it helps.
    rerank: Literal["off", "auto", "on"] = "off"
    rerank_files: int = Field(default=10, ge=2, le=30)


class LLMSettings(BaseModel):
    """The answering model: llama.cpp in-process (default) or an OpenAI-compatible server in the building."""

    model_config = {"extra": "forbid"}

    backend: Literal["llama-cpp", "openai"] = "llama-cpp"
    # Empty: the packaged model `app.answer.modelfiles.default_model` picks for this machine (the 1.5B when its
    # packages are installed and there is a GPU or 8+ cores and 8+ GB, else the 0.5B). Also a packaged model's
    # name ("qwen2.5-coder-1.5b") or the path of any chat/instruct GGUF file.
    model_path: str = ""
    # Context window in tokens (capped at the model's own); the sources' token budget is computed from it.
    n_ctx: int = Field(default=4096, ge=512)
    # A LoRA adapter (GGUF) for the llama.cpp model, e.g. one `dayone tune answerer` wrote under
    # $DAYONE_HOME/models/; empty: none. It must have been trained for this model (same architecture and shapes).
    lora_path: str = ""
    # CPU threads for generation; 0 = half the cores (with other work sharing the CPU, more threads gained
    # nothing in our measurements; see docs/answering.md).
    n_threads: int = Field(default=0, ge=0)
    # Layers offloaded to the GPU when llama.cpp was built with CUDA/Metal and a GPU is present: -1 = all,
    # 0 = CPU only. Ignored by CPU builds.
    n_gpu_layers: int = Field(default=-1, ge=-1)
    max_answer_tokens: int = Field(default=512, ge=16)
    # At most this many retrieved chunks go into the prompt (fewer when the token budget runs out first): a
    # small model answers better from a few good sources, and every source costs prompt time on a CPU.
    max_sources: int = Field(default=4, ge=1, le=50)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    # Under the model's prose, a list of the code sources with what each calls, raises, catches and reads, from
    # the index: "Steps in the code" for a "how" question, "Where to read" otherwise; both also list the search's
    # next two hits, which the model does not read (app/answer/outline.py).
    reading_map: bool = True
    # Below this cosine similarity between the question and the best chunk, nothing is relevant: the answer
    # says so without calling the model.
    min_similarity: float = Field(default=0.35, ge=-1.0, le=1.0)
    # backend = "openai": e.g. "http://gpu-server:8000/v1" (llama.cpp server, vLLM); the model name as the
    # server knows it (empty: the first one it lists).
    openai_base_url: str = ""
    openai_model: str = ""
    openai_api_key: str = ""


class ServeSettings(BaseModel):
    """The Gradio chat (`dayone serve`)."""

    model_config = {"extra": "forbid"}

    host: str = "127.0.0.1"
    port: int = Field(default=7860, ge=1, le=65535)
    # Link template for the company's code host, e.g. "https://git.example/{repo}/blob/{commit}/{path}#L{start}".
    # Fields: repo, path, commit, start, end. Empty: sources are shown without a link.
    code_url: str = ""
    # How many answers the model computes at once; other requests wait in Gradio's queue.
    concurrency: int = Field(default=1, ge=1)
    max_queue: int = Field(default=200, ge=1)
    # Authentication when bound beyond loopback: "none" (loopback only, or with --insecure-no-auth),
    # "users-file" (argon2/bcrypt hashes in users_file), or "proxy-header" (an SSO proxy's header, trusted
    # only from trusted_proxies).
    auth: Literal["none", "users-file", "proxy-header"] = "none"
    users_file: str = ""
    proxy_header: str = "X-Forwarded-User"
    trusted_proxies: list[str] = Field(default_factory=list)


class ReindexSettings(BaseModel):
    """The nightly reindex: inside `dayone serve` for the embedded store, or cron running `dayone index --all`."""

    model_config = {"extra": "forbid"}

    # A cron expression such as "0 2 * * *"; empty: no scheduled reindex.
    schedule: str = ""
    # Attempts per repository when a Qdrant server is unreachable, with exponential backoff from backoff_s.
    retries: int = Field(default=3, ge=1)
    backoff_s: float = Field(default=5.0, ge=0.0)
    # After a nightly run, retune the embedder when enough new commits arrived ([tune] min_new_commits); the
    # tuned model is switched to only when it beats the base on held-out commits (app/tune/ops.py).
    tune: bool = False


class AccessSettings(BaseModel):
    """Which user sees which repositories: users belong to groups, groups see repositories.

    Empty (no groups): everyone sees every repository.
    """

    model_config = {"extra": "forbid"}

    groups: dict[str, list[str]] = Field(default_factory=dict)  # group -> repository names ("*" = all)
    users: dict[str, list[str]] = Field(default_factory=dict)  # user -> group names


class TourSettings(BaseModel):
    """`dayone tour`: repository tours with summaries written by the local model."""

    model_config = {"extra": "forbid"}

    # Write directory and module summaries with the local model after each index run (cached by content hash).
    summaries: bool = True
    # Months of git history used for "people to ask".
    people_months: int = Field(default=12, ge=1)


class Settings(IndexerSettings):
    """All of dayone's configuration: the index's sections plus the app's."""

    search: SearchSettings = Field(default_factory=SearchSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    serve: ServeSettings = Field(default_factory=ServeSettings)
    reindex: ReindexSettings = Field(default_factory=ReindexSettings)
    access: AccessSettings = Field(default_factory=AccessSettings)
    tour: TourSettings = Field(default_factory=TourSettings)
    tune: TuneSettings = Field(default_factory=TuneSettings)


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Read dayone.toml and the environment; raise ConfigError with a one-line reason when they are wrong."""
    return _load(config_file, settings_cls=Settings, **overrides)
