"""security: API tokens, alias rules, keyed audit chain, encrypted artifacts

Revision ID: 0004
Revises: 0003

Adds the token and alias-rule tables; the audit log's per-entry and head MAC (HMAC with a key
kept outside the database); and, per artifact, the wrapped data key of artifacts encrypted at
rest. Existing rows keep NULL in the new columns (unkeyed entries, plaintext artifacts).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.add_column("audit_log", sa.Column("mac", sa.String(64), nullable=True))
    op.add_column("audit_head", sa.Column("mac", sa.String(64), nullable=True))
    op.add_column("artifacts", sa.Column("key_id", sa.String(64), nullable=True))
    op.add_column("artifacts", sa.Column("wrapped_key", sa.String(512), nullable=True))
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("scopes", JSON, nullable=False),
        sa.Column("secret_hash", sa.String(200), nullable=False),
        sa.Column("rate_limit", sa.Float(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=True),
        sa.Column("expires_at", sa.BigInteger(), nullable=True),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        sa.Column("revoked_by", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
    )
    op.create_index("ix_api_tokens_revoked_at", "api_tokens", ["revoked_at"])
    op.create_table(
        "alias_rules",
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("alias", sa.String(64), nullable=False),
        sa.Column("min_role", sa.String(16), nullable=False),
        sa.Column("require_gate", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("model", "alias", name="pk_alias_rules"),
    )


def downgrade() -> None:
    op.drop_table("alias_rules")
    op.drop_index("ix_api_tokens_revoked_at", table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_column("artifacts", "wrapped_key")
    op.drop_column("artifacts", "key_id")
    op.drop_column("audit_head", "mac")
    op.drop_column("audit_log", "mac")
