"""The catalog: one SQLite file per index generation beside the vector shard. manifest.py records repositories,
files (by blob) and chunks, so a rerun re-embeds only what changed; symbols.py records definitions and
references, the symbol table that exact-name search, the tour and the answer checks read. Only indexer/ runs
SQL on it; app/ calls these classes' methods through `indexer.reader.IndexReader`."""
