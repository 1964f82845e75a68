"""Embedding: text to vectors. dense.py holds the sentence-transformers model (torch on a GPU, int8 ONNX on a
CPU) and its identity, which decides when the index must be rebuilt; sparse.py the code-aware BM25 terms that
the engine weighs with IDF."""
