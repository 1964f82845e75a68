"""A LoRA adapter for the answering model, trained on examples from the index and written as a llama.cpp GGUF.

The base weights are the GGUF the chat already loads: transformers reads (and dequantizes) Qwen2/Llama GGUF
checkpoints, peft puts low-rank adapters on the attention projections of the top layers, and the adapter is
written with gguf-py (llama.cpp's own GGUF library, the one its `convert_lora_to_gguf.py` uses) under the tensor
names llama.cpp's loader expects. llama-cpp-python applies it to the quantized base with `lora_path`, so the
answering path is unchanged: `[llm] lora_path` names the adapter, empty turns it off.

Only the answer's tokens are learnt (the prompt is masked): the adapter learns to answer in dayone's cited
format from the sources given, not to memorise the sources.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from app.tune.answer_examples import AnswerExample
from app.tune.mining import TuneError

ADAPTER_FILE = "adapter.gguf"
CARD_FILE = "dayone-lora.json"
TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj")
# transformers architecture name -> llama.cpp's (gguf.MODEL_ARCH member): the ones whose GGUF transformers reads
ARCHITECTURES = {"qwen2": "QWEN2", "llama": "LLAMA", "mistral": "LLAMA", "qwen3": "QWEN3"}


@dataclass
class LoraConfig:
    rank: int = 8
    alpha: float = 16.0
    layers: int = 8  # adapters on the top N transformer layers only: backward stops there, about 3x faster on CPU
    learning_rate: float = 2e-4
    epochs: int = 1
    max_tokens: int = 1024  # an example longer than this is skipped (its sources would be cut in the chat too)
    seed: int = 0
    threads: int = 0  # 0: all cores
    device: str = "auto"  # auto: CUDA when torch sees a GPU, else the CPU


@dataclass
class TrainResult:
    steps: int
    skipped: int
    first_loss: float
    last_loss: float
    seconds: float
    losses: list[float] = field(default_factory=list)
    device: str = "cpu"


def load_base(gguf_path: Path):  # noqa: ANN201 - (tokenizer, model); transformers is imported lazily
    """The chat model's own GGUF as a trainable float32 transformers model, and its tokenizer."""
    try:
        import transformers
    except ImportError as exc:  # pragma: no cover - a dependency of sentence-transformers
        raise TuneError(f"transformers is not installed ({exc})") from None
    transformers.logging.set_verbosity_error()
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
        model = transformers.AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    except (ValueError, OSError, KeyError, RuntimeError) as exc:
        raise TuneError(f"cannot read {gguf_path} as a trainable model ({' '.join(str(exc).split())[:300]}); "
                        f"LoRA training supports {', '.join(sorted(ARCHITECTURES))} GGUF models") from None
    if model.config.model_type not in ARCHITECTURES:
        raise TuneError(f"{gguf_path} is a {model.config.model_type!r} model; LoRA export supports "
                        f"{', '.join(sorted(ARCHITECTURES))}")
    return tokenizer, model


def encode(tokenizer, example: AnswerExample) -> tuple[list[int], list[int]]:  # noqa: ANN001
    """Token ids of the whole conversation and labels that are -100 (ignored) everywhere but the answer."""
    prompt = tokenizer.apply_chat_template(example.messages, tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template([*example.messages, {"role": "assistant", "content": example.answer}],
                                         tokenize=False)
    if not full.startswith(prompt):
        raise TuneError("the model's chat template does not extend the prompt with the answer; cannot mask it")
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    ids = tokenizer(full, add_special_tokens=False)["input_ids"]
    return ids, [-100] * len(prompt_ids) + ids[len(prompt_ids):]


def add_adapters(model, cfg: LoraConfig):  # noqa: ANN001, ANN201 - a peft PeftModel
    try:
        import peft
    except ImportError as exc:
        raise TuneError(f"peft is not installed ({exc}); run scripts/install.sh") from None
    n = model.config.num_hidden_layers
    top = list(range(max(0, n - cfg.layers), n)) if cfg.layers else None
    config = peft.LoraConfig(r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=0.0, bias="none",
                             target_modules=list(TARGET_MODULES), layers_to_transform=top, task_type="CAUSAL_LM")
    return peft.get_peft_model(model, config)


def train_adapter(model, tokenizer, examples: list[AnswerExample], cfg: LoraConfig,  # noqa: ANN001
                  progress: Callable[[int, int, float], None] | None = None) -> TrainResult:
    """One example per step (no padding to waste a CPU's time), AdamW with warm-up and cosine decay."""
    import torch

    torch.manual_seed(cfg.seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads or max(1, os.cpu_count() or 1))
    try:
        return _train(model, tokenizer, examples, cfg, progress)
    finally:
        torch.set_num_threads(threads)


def _train(model, tokenizer, examples: list[AnswerExample], cfg: LoraConfig,  # noqa: ANN001
           progress: Callable[[int, int, float], None] | None) -> TrainResult:
    import torch

    encoded = [encode(tokenizer, e) for e in examples]
    kept = [(ids, labels) for ids, labels in encoded if len(ids) <= cfg.max_tokens]
    if not kept:
        raise TuneError(f"no training example fits {cfg.max_tokens} tokens")
    order = [i for _ in range(cfg.epochs) for i in random.Random(cfg.seed).sample(range(len(kept)), len(kept))]
    device = cfg.device if cfg.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") or (device == "cuda" and not torch.cuda.is_available()):
        raise TuneError(f"cannot train on device {cfg.device!r}: use auto or cpu"
                        + ("" if device == "cuda" else ", or cuda on a machine whose torch sees a GPU"))
    model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=0.0)
    warm = max(1, len(order) // 10)

    def rate(step: int) -> float:
        return (step + 1) / warm if step < warm else 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, len(order)
                                                                                                       - warm)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, rate)
    model.train()
    losses: list[float] = []
    started = time.perf_counter()
    for step, i in enumerate(order, 1):
        ids, labels = kept[i]
        out = model(input_ids=torch.tensor([ids], device=device), labels=torch.tensor([labels], device=device))
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(out.loss.item())
        if progress:
            progress(step, len(order), losses[-1])
    model.eval()
    model.to("cpu")  # the export reads the weights as numpy arrays
    head = losses[: max(1, len(losses) // 10)]
    tail = losses[-max(1, len(losses) // 10):]
    return TrainResult(steps=len(order), skipped=len(encoded) - len(kept), first_loss=sum(head) / len(head),
                       last_loss=sum(tail) / len(tail), seconds=time.perf_counter() - started, losses=losses,
                       device=device)


def export_gguf(peft_model, path: Path, alpha: float) -> int:  # noqa: ANN001
    """Write the adapter as llama.cpp's LoRA GGUF (what convert_lora_to_gguf.py writes: general.type "adapter",
    adapter.type "lora", adapter.lora.alpha, and `<base tensor>.lora_a` / `.lora_b` in f16). Returns the
    number of adapted matrices."""
    import gguf
    import numpy as np

    config = peft_model.base_model.model.config
    arch = getattr(gguf.MODEL_ARCH, ARCHITECTURES[config.model_type])
    names = gguf.get_tensor_name_map(arch, config.num_hidden_layers)
    pairs: dict[str, dict[str, np.ndarray]] = {}
    for name, tensor in peft_model.named_parameters():
        if ".lora_A." not in name and ".lora_B." not in name:
            continue
        side = "a" if ".lora_A." in name else "b"
        base = name.split(".lora_")[0].removeprefix("base_model.model.")
        mapped = names.get_name(base)
        if mapped is None:
            raise TuneError(f"llama.cpp has no tensor for {base}")
        pairs.setdefault(f"{mapped}.weight", {})[side] = tensor.detach().cpu().float().numpy().astype(np.float16)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    writer = gguf.GGUFWriter(str(tmp), gguf.MODEL_ARCH_NAMES[arch])
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
    for base, sides in sorted(pairs.items()):
        writer.add_tensor(f"{base}.lora_a", sides["a"])
        writer.add_tensor(f"{base}.lora_b", sides["b"])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    tmp.replace(path)
    return len(pairs)


def write_card(folder: Path, card: dict) -> None:
    (folder / CARD_FILE).write_text(json.dumps(card, indent=1, default=str) + "\n")


def read_card(folder: Path) -> dict:
    return json.loads((folder / CARD_FILE).read_text())


def config_dict(cfg: LoraConfig) -> dict:
    return asdict(cfg)
