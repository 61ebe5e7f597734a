"""Storage backends: the metadata store (SQL) and the artifact store (fsspec)."""
