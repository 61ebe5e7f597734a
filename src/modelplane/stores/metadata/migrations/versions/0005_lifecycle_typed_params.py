"""lifecycle and typed params: soft deletion of runs, models and versions; params keep their type

Revision ID: 0005
Revises: 0004

``deleted_at`` on runs, registered models and model versions: a deleted item is hidden from
listings and searches but kept, and restoring it clears the column. Per run param, its value as
JSON when it is not a string (``value_json``) and its number when it is an int or a float
(``num``, for numeric comparisons in filters). Existing params were stored as text: they stay
strings, and those that read as a finite number get their ``num``.
"""

from __future__ import annotations

import math
import re

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_BATCH = 1000
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def upgrade() -> None:
    # Plain ADD COLUMN on both dialects (no batch table rebuild on SQLite, which would cascade
    # the rebuild's DROP TABLE to the tables referencing these).
    op.add_column("runs", sa.Column("deleted_at", sa.BigInteger(), nullable=True))
    op.add_column("registered_models", sa.Column("deleted_at", sa.BigInteger(), nullable=True))
    op.add_column("model_versions", sa.Column("deleted_at", sa.BigInteger(), nullable=True))
    op.add_column("run_params", sa.Column("value_json", sa.Text(), nullable=True))
    op.add_column("run_params", sa.Column("num", sa.Float(), nullable=True))
    op.create_index("ix_run_params_key_num", "run_params", ["key", "num"])
    _backfill_numbers()


def _number(text: str) -> float | None:
    if len(text) > 400 or not _NUMBER.fullmatch(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def _backfill_numbers() -> None:
    conn = op.get_bind()
    params = sa.table(
        "run_params", sa.column("run_id"), sa.column("key"), sa.column("value"), sa.column("num")
    )
    rows = conn.execute(sa.select(params.c.run_id, params.c.key, params.c.value)).all()
    updates = [
        {"r": run_id, "k": key, "n": num}
        for run_id, key, value in rows
        if (num := _number(value)) is not None
    ]
    statement = (
        params.update()
        .where(params.c.run_id == sa.bindparam("r"), params.c.key == sa.bindparam("k"))
        .values(num=sa.bindparam("n"))
    )
    for i in range(0, len(updates), _BATCH):
        conn.execute(statement, updates[i : i + _BATCH])


def downgrade() -> None:
    op.drop_index("ix_run_params_key_num", table_name="run_params")
    op.drop_column("run_params", "num")
    op.drop_column("run_params", "value_json")
    op.drop_column("model_versions", "deleted_at")
    op.drop_column("registered_models", "deleted_at")
    op.drop_column("runs", "deleted_at")
