"""The artifact store: immutable files addressed by safe relative keys, checksummed on write and
verified on read. Backends: a local folder (default) and any fsspec URL (``s3://`` via s3fs)."""

from modelplane.stores.artifacts.base import ArtifactInfo, ArtifactStore, open_artifact_store

__all__ = ["ArtifactInfo", "ArtifactStore", "open_artifact_store"]
