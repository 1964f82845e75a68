"""`dayone tune`: adapt the embedder to a codebase and its history, and prove it on held-out commits."""
