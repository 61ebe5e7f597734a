"""The metadata store: one SQLAlchemy implementation over SQLite (default) and PostgreSQL."""

from modelplane.stores.metadata.store import MetadataStore

__all__ = ["MetadataStore"]
