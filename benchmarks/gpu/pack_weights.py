"""Pack all-MiniLM-L6-v2 for a 64 MiB transfer: 2-D weights as per-row int8 plus scales (23 MB instead of 87 MB),
and reference vectors from the real fp32 model, which prep.py compares the rebuilt model against."""

import json
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from sentence_transformers import SentenceTransformer

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from indexer.embedding.dense import default_model_path  # noqa: E402

out = Path(sys.argv[1] if len(sys.argv) > 1 else ".gpu")
weights = load_file(str(default_model_path() / "model.safetensors"))
packed = {}
for name, w in weights.items():
    w = w.astype(np.float32)
    if w.ndim == 2:
        scale = np.abs(w).max(axis=1, keepdims=True) / 127.0
        scale[scale == 0] = 1.0
        packed[name + "::q"] = np.round(w / scale).astype(np.int8)
        packed[name + "::s"] = scale.astype(np.float32)
    else:
        packed[name + "::f"] = w
np.savez(out / "weights.npz", **packed)
texts = ["def pay(order): charge the card", "where are orders paid", "class QuerySet: lazy database lookup",
         "migrations autodetector detects renamed fields", "CSRF middleware rejects the request"]
ref = SentenceTransformer(str(default_model_path()), device="cpu").encode(texts, normalize_embeddings=True)
(out / "ref.json").write_text(json.dumps({"texts": texts, "ref": ref.tolist()}))
