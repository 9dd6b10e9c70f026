"""Source chains on LMDB: the store, each cell's chain, and the per-call scratch workspace."""
