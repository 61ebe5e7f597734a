"""dataset version counter

Revision ID: 0003
Revises: 0002

Dataset versions are numbered from a counter on the dataset row, like model versions, instead of
``max(version) + 1``: concurrent registrations serialise on the row and numbers are never reused.
Existing datasets start from their highest version.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN on both dialects (no batch table rebuild on SQLite, which would cascade
    # the rebuild's DROP TABLE to dataset_versions).
    op.add_column(
        "datasets",
        sa.Column("last_version", sa.Integer(), server_default="0", nullable=False),
    )
    op.execute(
        "UPDATE datasets SET last_version = COALESCE("
        "(SELECT max(dv.version) FROM dataset_versions dv WHERE dv.dataset_id = datasets.id), 0)"
    )


def downgrade() -> None:
    op.drop_column("datasets", "last_version")
