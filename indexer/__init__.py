"""dayone's indexer: sources -> chunking -> embedding -> store, driven by pipeline.

It owns the store's schema (collection, vectors, payload fields, manifest); the app reads through it.
"""
