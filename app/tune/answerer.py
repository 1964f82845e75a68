"""`dayone tune answerer`: examples from the index -> a LoRA adapter for the chat's GGUF model -> a folder under
$DAYONE_HOME/models/ that `[llm] lora_path` names. Nothing switches by itself: the adapter is off until a person
turns it on, because on our answer eval it has not yet been shown to help (docs/tuning.md)."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.answer.modelfiles import resolve_model_path
from app.settings import Settings
from app.tune.answer_examples import mine_answer_examples
from app.tune.lora import (
    ADAPTER_FILE,
    LoraConfig,
    add_adapters,
    config_dict,
    export_gguf,
    load_base,
    read_card,
    train_adapter,
    write_card,
)
from app.tune.mining import TuneError
from indexer.reader import IndexReader

MIN_EXAMPLES = 8
Log = Callable[[str], None]


@dataclass
class AnswererReport:
    folder: Path
    card: dict


def adapters(settings: Settings) -> list[tuple[Path, dict]]:
    folder = settings.home / "models"
    if not folder.is_dir():
        return []
    return [(p, read_card(p)) for p in sorted(folder.glob("lora-*")) if (p / ADAPTER_FILE).is_file()]


def tune_answerer(settings: Settings, repos: list[str] | None = None, *, examples: int = 200,
                  cfg: LoraConfig | None = None, log: Log = print,
                  progress: Callable[[int, int, float], None] | None = None) -> AnswererReport:
    """Mine examples from the index, train the adapter on the configured GGUF model, write it and check that
    llama.cpp loads it with that model."""
    cfg = cfg or LoraConfig()
    if cfg.device not in ("auto", "cpu", "cuda"):
        raise TuneError(f"unknown device {cfg.device!r}: use auto, cpu or cuda")
    if settings.llm.backend != "llama-cpp":
        raise TuneError("a LoRA adapter applies to the in-process llama.cpp model (llm.backend = 'llama-cpp'); a "
                        "model behind an OpenAI-compatible server is tuned where it runs")
    base = resolve_model_path(settings.llm.model_path, settings.home)
    known = [r.name for r in settings.repos]
    if unknown := [n for n in repos or [] if n not in known]:
        raise TuneError(f"no repository named {unknown[0]!r} in the configuration (configured: "
                        f"{', '.join(known) or 'none'})")
    chosen = repos or settings.tune.repos or None
    with IndexReader(settings) as reader:
        mined = mine_answer_examples(reader, chosen, limit=examples, seed=cfg.seed)
    if len(mined) < MIN_EXAMPLES:
        raise TuneError(f"only {len(mined)} examples in the index's definitions (at least {MIN_EXAMPLES} needed): "
                        "index more code, or code with docstrings")
    log(f"{len(mined)} examples ({', '.join(f'{k} {n}' for k, n in sorted(Counter(e.kind for e in mined).items()))})"
        f"; loading {base.name} for training")
    tokenizer, model = load_base(base)
    model = add_adapters(model, cfg)
    result = train_adapter(model, tokenizer, mined, cfg, progress)
    when = dt.datetime.now(dt.UTC)
    slug = re.sub(r"[^A-Za-z0-9]+", "-", "-".join(sorted({e.repo for e in mined})))[:40].strip("-")
    folder = settings.home / "models" / f"lora-{when:%Y%m%dT%H%M%SZ}-{slug}"
    folder.mkdir(parents=True, exist_ok=True)
    matrices = export_gguf(model, folder / ADAPTER_FILE, cfg.alpha)
    with (folder / "examples.jsonl").open("w") as fh:
        for e in mined:
            fh.write(json.dumps(e.to_json()) + "\n")
    card = {
        "name": folder.name, "created": when.isoformat(timespec="seconds"), "base_model": str(base),
        "base_model_bytes": base.stat().st_size, "repos": sorted({e.repo for e in mined}),
        "examples": dict(Counter(e.kind for e in mined)), "config": config_dict(cfg), "adapted_matrices": matrices,
        "training": {"steps": result.steps, "skipped_too_long": result.skipped, "first_loss": result.first_loss,
                     "last_loss": result.last_loss, "seconds": round(result.seconds, 1),
                     "device": result.device},
    }
    write_card(folder, card)
    _check_loads(base, folder / ADAPTER_FILE, settings)
    return AnswererReport(folder, card)


def _check_loads(base: Path, adapter: Path, settings: Settings) -> None:
    """Load the adapter with its base in llama.cpp once, so a bad export fails here and not in the chat."""
    from app.answer.chat_model import LlamaCppModel, ModelError

    try:
        model = LlamaCppModel(base, n_ctx=512, n_threads=settings.llm.n_threads, n_gpu_layers=0, lora_path=adapter)
    except ModelError as exc:
        raise TuneError(f"llama.cpp cannot apply the adapter it was trained for: {exc}") from None
    model.close()
