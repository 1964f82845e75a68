"""Search: retriever.py ranks chunks for a question by fusing dense, BM25, exact-name, traceback-frame and path
signals with reciprocal rank, within the caller's repositories (docs/retrieval.md)."""
