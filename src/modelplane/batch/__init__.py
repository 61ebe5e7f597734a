"""Batch scoring: CSV and Parquet files through a model or an endpoint's graph, in bounded
memory, on the inference layer (never through the server)."""
