"""Embedders: one vector per window (query-independent) and per query, for library recall."""
