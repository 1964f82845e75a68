"""Contrastive fine-tuning of the sentence-transformers embedder on mined (question, code, hard negative) triples.

The loss is sentence-transformers' MultipleNegativesRankingLoss: each question must score its own code above
every other code in the batch (in-batch negatives) and above its hard negative from the same file or directory.
Batches never hold the same question or code twice, since a duplicate would be scored as a negative of itself.
A small explicit loop (rather than the library's Trainer) keeps the dependencies to torch and
sentence-transformers, prints one progress bar, and runs the same on a CPU and a GPU.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from app.tune.mining import TuneError
from app.tune.pairs import Pair


@dataclass
class TrainConfig:
    epochs: int = 1
    batch_size: int = 32
    learning_rate: float = 3e-5
    warmup: float = 0.1
    max_seq_length: int = 256
    seed: int = 0
    device: str = "auto"
    threads: int = 0  # CPU threads for torch; 0 leaves torch's default
    # Train only the top N transformer layers (0: all). Frozen layers need no gradients, so a step costs about
    # half on a CPU; the vocabulary a codebase adds is learnt in the upper layers and the pooling anyway.
    train_layers: int = 0


@dataclass
class TrainResult:
    path: Path
    model_id: str
    seconds: float
    steps: int
    pairs: int
    device: str
    final_loss: float


def batches_without_duplicates(pairs: Sequence[Pair], size: int, rng: random.Random) -> list[list[Pair]]:
    """Shuffled batches in which no question or code appears twice (a duplicate is a false in-batch negative)."""
    pending = list(pairs)
    rng.shuffle(pending)
    out: list[list[Pair]] = []
    while pending:
        batch: list[Pair] = []
        seen: set[str] = set()
        rest: list[Pair] = []
        for p in pending:
            keys = {"q" + p.query, "c" + p.positive, "c" + p.negative}
            if len(batch) < size and not (keys & seen):
                batch.append(p)
                seen |= keys
            else:
                rest.append(p)
        if len(batch) < 2 and out:  # leftovers that collide with each other: the last batches absorb them
            break
        out.append(batch)
        pending = rest
    return out


def _pick_device(requested: str) -> str:
    import torch

    if requested != "auto":
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def weights_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(folder.glob("*.safetensors")):
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:8]


def train(base: Path, pairs: Sequence[Pair], out_parent: Path, cfg: TrainConfig, *, name_hint: str = "",
          progress: Callable[[int, int, float], None] | None = None) -> TrainResult:
    """Fine-tune the model at `base` on `pairs`; save it as a new folder under `out_parent` and name it.

    The folder name carries the UTC time and a digest of the new weights, so every tuned model has its own
    identity (indexer/embedding.py model_identity) and switching to it rebuilds the index.
    """
    if len(pairs) < 8:
        raise TuneError(f"only {len(pairs)} training pairs: too few to tune on")
    import torch
    from sentence_transformers import SentenceTransformer

    try:
        from sentence_transformers.sentence_transformer import losses  # sentence-transformers 6
    except ImportError:  # pragma: no cover - older releases
        from sentence_transformers import losses

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    device = _pick_device(cfg.device)
    model = SentenceTransformer(str(base), device=device, local_files_only=True)
    model.max_seq_length = cfg.max_seq_length
    if cfg.train_layers:
        _freeze_below(model, cfg.train_layers)
    loss_fn = losses.MultipleNegativesRankingLoss(model)
    plan = [b for _ in range(cfg.epochs) for b in batches_without_duplicates(pairs, cfg.batch_size, rng)]
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=cfg.learning_rate, weight_decay=0.01)
    warm = max(1, int(len(plan) * cfg.warmup))

    def schedule(step: int) -> float:  # linear warm-up, then linear decay to zero
        return (step + 1) / warm if step < warm else max(0.0, (len(plan) - step) / max(1, len(plan) - warm))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    model.train()
    started = time.perf_counter()
    ema = math.nan
    for step, batch in enumerate(plan):
        features = [_features(model, [getattr(p, col) for p in batch], device)
                    for col in ("query", "positive", "negative")]
        loss = loss_fn(features, torch.zeros(len(batch), device=device))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        value = float(loss.detach())
        ema = value if math.isnan(ema) else 0.9 * ema + 0.1 * value
        if progress:
            progress(step + 1, len(plan), ema)
    seconds = time.perf_counter() - started
    model.eval()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    tmp = out_parent / f".tuning-{stamp}"
    out_parent.mkdir(parents=True, exist_ok=True)
    model.save(str(tmp))
    digest = weights_digest(tmp)
    slug = "".join(ch if ch.isalnum() else "-" for ch in name_hint)[:40].strip("-")
    final = out_parent / f"tuned-{stamp}-{slug + '-' if slug else ''}{digest}"
    tmp.rename(final)
    from indexer.embedding.dense import model_identity

    return TrainResult(final, model_identity(final), seconds, len(plan), len(pairs), device, ema)


def _freeze_below(model, top: int) -> None:  # noqa: ANN001 - SentenceTransformer, lazy import
    """Freeze the embeddings and every transformer layer but the last `top` (BERT-style encoders)."""
    import torch

    layers = next((m.layer for m in model.modules() if isinstance(getattr(m, "layer", None), torch.nn.ModuleList)),
                  None)
    if layers is None:
        return  # an architecture we do not know: train it all rather than guess
    keep = {id(p) for layer in list(layers)[-top:] for p in layer.parameters()}
    for name, p in model.named_parameters():
        if id(p) not in keep and "pooler" not in name:
            p.requires_grad_(False)


def _features(model, texts: list[str], device: str) -> dict:  # noqa: ANN001 - SentenceTransformer, lazy import
    prepare = getattr(model, "preprocess", None) or model.tokenize  # preprocess() from sentence-transformers 6
    features = prepare(texts)
    return {k: v.to(device) if hasattr(v, "to") else v for k, v in features.items()}


def write_card(folder: Path, info: dict) -> None:
    """What this model was trained on and how it scored, next to its weights (read by `dayone tune status`)."""
    (folder / "dayone-tune.json").write_text(json.dumps(info, indent=1, default=str))


def read_card(folder: Path) -> dict:
    try:
        return json.loads((folder / "dayone-tune.json").read_text())
    except (OSError, ValueError):
        return {}
