"""fp32 against fp16, batch 64 against 256, on the GPU: speed and agreement on Django's chunk texts as the indexer
forms them (8,000 at random)."""

import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sentence_transformers import SentenceTransformer

sys.path.insert(0, ".")
from indexer.chunking import chunk_file  # noqa: E402
from indexer.pipeline.run import embedding_text, sniff_content  # noqa: E402

texts: list[str] = []
root = Path("/tmp/dj")
for p in sorted(root.rglob("*.py")):
    data = p.read_bytes()
    if not sniff_content(data):
        texts += [embedding_text(c) for c in chunk_file(str(p.relative_to(root)), data).chunks]
random.Random(7).shuffle(texts)
texts = texts[:8000]
out: dict = {"texts": len(texts)}
model = SentenceTransformer("/tmp/model", device="cuda")
ref = None
for label, half, batch in (("fp32 b64", False, 64), ("fp32 b256", False, 256), ("fp16 b256", True, 256),
                           ("fp16 b64", True, 64)):
    if half:
        model.half()
    model.encode(texts[:512], batch_size=batch)
    torch.cuda.synchronize()
    t = time.perf_counter()
    vectors = model.encode(texts, batch_size=batch, normalize_embeddings=True, convert_to_numpy=True)
    torch.cuda.synchronize()
    out[label] = round(len(texts) / (time.perf_counter() - t), 1)
    if ref is None:
        ref = vectors.astype(np.float32)
    else:
        cos = (vectors.astype(np.float32) * ref).sum(axis=1)
        out[label + " cosine to fp32 min/mean"] = [round(float(cos.min()), 5), round(float(cos.mean()), 5)]
print(json.dumps(out), flush=True)
