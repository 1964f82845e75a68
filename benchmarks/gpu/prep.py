"""Rebuild all-MiniLM-L6-v2 on the GPU machine from per-row int8 weights (the 87 MB fp32 file does not fit the
64 MiB transfer), then check it against reference vectors of the real fp32 model (pack_weights.py)."""

import json
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from sentence_transformers import SentenceTransformer

SRC, DST = Path(".gpu/model"), Path("/tmp/model")
shutil.copytree(SRC, DST, dirs_exist_ok=True)
packed = np.load(".gpu/weights.npz")
state = {}
for key in packed.files:
    name, kind = key.rsplit("::", 1)
    if kind == "q":
        state[name] = torch.from_numpy(packed[key].astype(np.float32) * packed[name + "::s"]).contiguous()
    elif kind == "f":
        state[name] = torch.from_numpy(packed[key]).contiguous()
save_file(state, str(DST / "model.safetensors"))
ref = json.loads(Path(".gpu/ref.json").read_text())
for device in ("cpu", "cuda"):
    vectors = SentenceTransformer(str(DST), device=device).encode(ref["texts"], normalize_embeddings=True)
    cos = (vectors * np.asarray(ref["ref"])).sum(axis=1)
    print(json.dumps({"check": "rebuilt model vs real fp32 model", "device": device,
                      "cosine_min": round(float(cos.min()), 4), "cosine_mean": round(float(cos.mean()), 4)}))
print(json.dumps({"torch": torch.__version__, "cuda": torch.cuda.is_available(),
                  "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}), flush=True)
