"""Datasets: content-hashed versions stored as Parquet, with schema and per-column profiles."""
