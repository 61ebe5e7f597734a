"""Alembic environment: always given a live connection by the runner."""

from __future__ import annotations

from alembic import context

from modelplane.stores.metadata.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only used when run by hand
    raise RuntimeError("modelplane migrations run through MetadataStore.migrate()")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
