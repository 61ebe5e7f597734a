"""monitoring: the prediction log on PostgreSQL, labels and their history, training references,
leases, alert rules and events

Revision ID: 0006
Revises: 0005

New tables only; nothing existing changes. ``predictions`` is used when the prediction log is
kept in the metadata database (PostgreSQL); the embedded log lives in segment files instead.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Ms = sa.BigInteger


def upgrade() -> None:
    op.create_table(
        "predictions",
        sa.Column("prefix", sa.String(32), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("ts", Ms(), nullable=False),
        sa.Column("endpoint", sa.String(200), nullable=False),
        sa.Column("variant", sa.String(64), nullable=False),
        sa.Column("model", sa.String(500), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("record", JSON, nullable=False),
        sa.Column("latency", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("prefix", "seq", name="pk_predictions"),
    )
    op.create_index("ix_predictions_endpoint_ts", "predictions", ["endpoint", "ts"])
    op.create_index("ix_predictions_ts", "predictions", ["ts"])
    op.create_table(
        "prediction_labels",
        sa.Column("prediction_id", sa.String(64), nullable=False),
        sa.Column("endpoint", sa.String(200), nullable=False),
        sa.Column("label", JSON, nullable=False),
        sa.Column("labelled_at", Ms(), nullable=False),
        sa.Column("labelled_by", sa.String(200), nullable=True),
        sa.Column("changes", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("prediction_id", name="pk_prediction_labels"),
    )
    op.create_index(
        "ix_prediction_labels_endpoint_labelled_at",
        "prediction_labels",
        ["endpoint", "labelled_at"],
    )
    op.create_table(
        "prediction_label_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("prediction_id", sa.String(64), nullable=False),
        sa.Column("endpoint", sa.String(200), nullable=False),
        sa.Column("label", JSON, nullable=False),
        sa.Column("previous", JSON, nullable=True),
        sa.Column("at", Ms(), nullable=False),
        sa.Column("by", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_prediction_label_history"),
    )
    op.create_index(
        "ix_prediction_label_history_prediction_id",
        "prediction_label_history",
        ["prediction_id"],
    )
    op.create_table(
        "model_references",
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("sample_key", sa.String(1024), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("source_rows", sa.BigInteger(), nullable=False),
        sa.Column("columns", JSON, nullable=False),
        sa.Column("detector_key", sa.String(1024), nullable=True),
        sa.Column("info", JSON, nullable=False),
        sa.Column("created_at", Ms(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=True),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_versions.id"],
            name="fk_model_references_model_version_id_model_versions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("model_version_id", name="pk_model_references"),
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("expires_at", Ms(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_leases"),
    )
    op.create_table(
        "alert_rules",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("endpoint", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("metric", sa.String(200), nullable=False),
        sa.Column("op", sa.String(4), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("window_s", sa.Integer(), nullable=False),
        sa.Column("cooldown_s", sa.Integer(), nullable=False),
        sa.Column("sinks", JSON, nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_at", Ms(), nullable=False),
        sa.Column("updated_at", Ms(), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_alert_rules"),
    )
    op.create_table(
        "alert_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("rule", sa.String(200), nullable=False),
        sa.Column("endpoint", sa.String(200), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("at", Ms(), nullable=False),
        sa.Column("deliveries", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alert_events"),
    )
    op.create_index("ix_alert_events_rule_at", "alert_events", ["rule", "at"])
    op.create_index("ix_alert_events_at", "alert_events", ["at"])


def downgrade() -> None:
    op.drop_index("ix_alert_events_at", table_name="alert_events")
    op.drop_index("ix_alert_events_rule_at", table_name="alert_events")
    op.drop_table("alert_events")
    op.drop_table("alert_rules")
    op.drop_table("leases")
    op.drop_table("model_references")
    op.drop_index(
        "ix_prediction_label_history_prediction_id", table_name="prediction_label_history"
    )
    op.drop_table("prediction_label_history")
    op.drop_index("ix_prediction_labels_endpoint_labelled_at", table_name="prediction_labels")
    op.drop_table("prediction_labels")
    op.drop_index("ix_predictions_ts", table_name="predictions")
    op.drop_index("ix_predictions_endpoint_ts", table_name="predictions")
    op.drop_table("predictions")
