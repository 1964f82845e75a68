"""dayone's application layer: retrieval over the index, and the command line."""
