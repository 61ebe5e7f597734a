"""Table definitions of the metadata store (SQLAlchemy Core), shared by SQLite and PostgreSQL.

Times are integer milliseconds since the epoch (UTC). JSON columns hold small documents
(signatures, profiles, audit before/after). The Alembic migrations in ``migrations/versions`` create
exactly these tables; a test compares the two.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Ms = sa.BigInteger

experiments = sa.Table(
    "experiments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("created_at", Ms, nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column(
        "experiment_id",
        sa.Integer,
        sa.ForeignKey("experiments.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("start_time", Ms, nullable=False),
    sa.Column("end_time", Ms),
    sa.Column("user", sa.String(200)),
    sa.Column("source", sa.String(1000)),
    sa.Column("code_version", sa.String(64)),
    # Set when the run is deleted (hidden from searches, kept, restorable); added by 0005.
    sa.Column("deleted_at", Ms),
    sa.Index(None, "experiment_id", "start_time"),
    sa.Index(None, "status"),
)

run_params = sa.Table(
    "run_params",
    metadata,
    sa.Column(
        "run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("key", sa.String(250), primary_key=True),
    # The text form (MLflow's: what string comparisons in filters see) ...
    sa.Column("value", sa.String(6000), nullable=False),
    # ... the value as JSON when it is not a string (NULL: a string), so it comes back with its
    # type, and the number of an int or float param (numeric comparisons); added by 0005.
    sa.Column("value_json", sa.Text),
    sa.Column("num", sa.Float),
    sa.Index(None, "key", "value"),
    sa.Index(None, "key", "num"),
)

run_tags = sa.Table(
    "run_tags",
    metadata,
    sa.Column(
        "run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.String(6000), nullable=False),
    sa.Index(None, "key", "value"),
)

# Every logged point. No secondary index except the one used to read a series back.
metrics = sa.Table(
    "metrics",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column(
        "run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("key", sa.String(250), nullable=False),
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Column("timestamp", Ms, nullable=False),
    sa.Column("value", sa.Float),  # NULL = NaN (SQLite stores NaN as NULL)
    sa.Index(None, "run_id", "key", "step"),
)

# The last value of each metric of a run (highest step, then latest time): what search filters on.
latest_metrics = sa.Table(
    "latest_metrics",
    metadata,
    sa.Column(
        "run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Column("timestamp", Ms, nullable=False),
    sa.Column("value", sa.Float),  # NULL = NaN (SQLite stores NaN as NULL)
    sa.Index(None, "key", "value"),
)

datasets = sa.Table(
    "datasets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("created_at", Ms, nullable=False),
    # Highest version number ever issued (see registered_models.last_version); added by 0003.
    sa.Column("last_version", sa.Integer, nullable=False, server_default="0"),
)

dataset_versions = sa.Table(
    "dataset_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "dataset_id", sa.Integer, sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("artifact_key", sa.String(1024), nullable=False),
    sa.Column("num_rows", sa.BigInteger, nullable=False),
    sa.Column("num_columns", sa.Integer, nullable=False),
    sa.Column("schema", JSON, nullable=False),
    sa.Column("profile", JSON, nullable=False),
    sa.Column("source", sa.String(1000)),
    sa.Column("created_at", Ms, nullable=False),
    sa.Column("created_by", sa.String(200)),
    sa.UniqueConstraint("dataset_id", "version"),
    sa.UniqueConstraint("dataset_id", "content_hash"),
)

run_datasets = sa.Table(
    "run_datasets",
    metadata,
    sa.Column(
        "run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column(
        "dataset_version_id",
        sa.Integer,
        sa.ForeignKey("dataset_versions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("context", sa.String(64), primary_key=True),
)

# Checksums of every stored artifact file, keyed by its store-relative key.
artifacts = sa.Table(
    "artifacts",
    metadata,
    sa.Column("key", sa.String(1024), primary_key=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("created_at", Ms, nullable=False),
    # Encrypted at rest: the artifact's data key, wrapped by the master key ``key_id`` names
    sa.Column("key_id", sa.String(64)),
    sa.Column("wrapped_key", sa.String(512)),
)

registered_models = sa.Table(
    "registered_models",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("tags", JSON, nullable=False),
    # Highest version number ever issued: numbers are never reused, even after a deletion.
    sa.Column("last_version", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", Ms, nullable=False),
    sa.Column("updated_at", Ms, nullable=False),
    # Set when the model is deleted with its versions (kept, restorable); added by 0005.
    sa.Column("deleted_at", Ms),
)

model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "model_id",
        sa.Integer,
        sa.ForeignKey("registered_models.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("flavor", sa.String(32), nullable=False),
    sa.Column("artifact_key", sa.String(1024), nullable=False),
    sa.Column("files", JSON, nullable=False),
    sa.Column("signature", JSON, nullable=False),
    sa.Column("metrics", JSON, nullable=False),
    sa.Column("params", JSON, nullable=False),
    sa.Column("tags", JSON, nullable=False),
    sa.Column("flavor_info", JSON, nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("model_card", sa.Text, nullable=False, server_default=""),
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="SET NULL")),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", Ms, nullable=False),
    sa.Column("created_by", sa.String(200)),
    # Set when the version is deleted (kept, restorable); added by 0005.
    sa.Column("deleted_at", Ms),
    sa.UniqueConstraint("model_id", "version"),
    sa.Index(None, "run_id"),
)

model_version_datasets = sa.Table(
    "model_version_datasets",
    metadata,
    sa.Column(
        "model_version_id",
        sa.Integer,
        sa.ForeignKey("model_versions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column(
        "dataset_version_id",
        sa.Integer,
        sa.ForeignKey("dataset_versions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
)

model_aliases = sa.Table(
    "model_aliases",
    metadata,
    sa.Column(
        "model_id",
        sa.Integer,
        sa.ForeignKey("registered_models.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("alias", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", Ms, nullable=False),
    sa.Column("updated_by", sa.String(200)),
)

model_alias_history = sa.Table(
    "model_alias_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "model_id",
        sa.Integer,
        sa.ForeignKey("registered_models.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("alias", sa.String(64), nullable=False),
    sa.Column("old_version", sa.Integer),
    sa.Column("new_version", sa.Integer),
    sa.Column("actor", sa.String(200)),
    sa.Column("reason", sa.Text),
    sa.Column("ts", Ms, nullable=False),
    sa.Index(None, "model_id", "alias", "ts"),
)

# Append-only, hash-chained. ``seq`` is assigned by the writer as head.seq + 1 under a lock.
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column(
        "seq",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("ts", Ms, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.String(500), nullable=False),
    sa.Column("before", JSON),
    sa.Column("after", JSON),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    # HMAC of ``hash`` with the audit key kept outside the database
    sa.Column("mac", sa.String(64)),
    sa.Index(None, "target"),
    sa.Index(None, "ts"),
)

# One row (id = 1): the chain's last seq and hash. Updated in the same transaction as each append;
# lets ``verify`` detect deletion of the newest entries and serialises writers.
audit_head = sa.Table(
    "audit_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("mac", sa.String(64)),
)

# Named deployments. ``generation`` grows with every change: servers poll it to pick changes up.
endpoints = sa.Table(
    "endpoints",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("config", JSON, nullable=False),
    sa.Column("generation", sa.BigInteger, nullable=False),
    sa.Column("created_at", Ms, nullable=False),
    sa.Column("updated_at", Ms, nullable=False),
    sa.Column("updated_by", sa.String(200)),
)


# API tokens. The secret is never stored: ``secret_hash`` is a salted scrypt hash of it.
api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("scopes", JSON, nullable=False),
    sa.Column("secret_hash", sa.String(200), nullable=False),
    sa.Column("rate_limit", sa.Float),
    sa.Column("created_at", Ms, nullable=False),
    sa.Column("created_by", sa.String(200)),
    sa.Column("expires_at", Ms),
    sa.Column("revoked_at", Ms),
    sa.Column("revoked_by", sa.String(200)),
    sa.Index(None, "revoked_at"),
)

# Who may move an alias: per model (or "*" for every model), the least role, and whether the
# version must have passed a validation gate.
alias_rules = sa.Table(
    "alias_rules",
    metadata,
    sa.Column("model", sa.String(200), primary_key=True),
    sa.Column("alias", sa.String(64), primary_key=True),
    sa.Column("min_role", sa.String(16), nullable=False),
    sa.Column("require_gate", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("updated_at", Ms, nullable=False),
    sa.Column("updated_by", sa.String(200)),
)


# --- Monitoring (added by 0006) -------------------------------------------------------------

# The prediction log on PostgreSQL: one row per answered request. A request's prediction ids are
# ``prefix-hex(seq)`` … ``prefix-hex(seq + n - 1)`` (see inference/ids.py), so one row covers them.
predictions = sa.Table(
    "predictions",
    metadata,
    sa.Column("prefix", sa.String(32), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("n", sa.Integer, nullable=False),
    sa.Column("ts", Ms, nullable=False),
    sa.Column("endpoint", sa.String(200), nullable=False),
    sa.Column("variant", sa.String(64), nullable=False),
    sa.Column("model", sa.String(500), nullable=False),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("record", JSON, nullable=False),  # columns, inputs, outputs, probabilities, …
    sa.Column("latency", sa.Float, nullable=False),
    sa.Index(None, "endpoint", "ts"),
    sa.Index(None, "ts"),
)

# The label of a prediction (the latest one received) and every change of it.
prediction_labels = sa.Table(
    "prediction_labels",
    metadata,
    sa.Column("prediction_id", sa.String(64), primary_key=True),
    sa.Column("endpoint", sa.String(200), nullable=False),
    sa.Column("label", JSON, nullable=False),
    sa.Column("labelled_at", Ms, nullable=False),
    sa.Column("labelled_by", sa.String(200)),
    sa.Column("changes", sa.Integer, nullable=False, server_default="0"),
    sa.Index(None, "endpoint", "labelled_at"),
)

prediction_label_history = sa.Table(
    "prediction_label_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("prediction_id", sa.String(64), nullable=False),
    sa.Column("endpoint", sa.String(200), nullable=False),
    sa.Column("label", JSON, nullable=False),
    sa.Column("previous", JSON),
    sa.Column("at", Ms, nullable=False),
    sa.Column("by", sa.String(200)),
    sa.Index(None, "prediction_id"),
)

# The training reference of a model version: a sample of its training data (an artifact), its
# column kinds, and the outlier detector fitted on it (an ONNX artifact, never a pickle).
model_references = sa.Table(
    "model_references",
    metadata,
    sa.Column(
        "model_version_id",
        sa.Integer,
        sa.ForeignKey("model_versions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("sample_key", sa.String(1024), nullable=False),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("source_rows", sa.BigInteger, nullable=False),
    sa.Column("columns", JSON, nullable=False),
    sa.Column("detector_key", sa.String(1024)),
    sa.Column("info", JSON, nullable=False),
    sa.Column("created_at", Ms, nullable=False),
    sa.Column("created_by", sa.String(200)),
)

# Leases: one holder at a time per name (the monitor loop, a canary's analysis) across workers and
# replicas. A holder renews before ``expires_at``; anybody may take an expired lease.
leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("expires_at", Ms, nullable=False),
)

# Alert rules and what they did.
alert_rules = sa.Table(
    "alert_rules",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("endpoint", sa.String(200), nullable=False),  # "*": every endpoint
    sa.Column("kind", sa.String(16), nullable=False),  # metric | drift
    sa.Column("metric", sa.String(200), nullable=False),
    sa.Column("op", sa.String(4), nullable=False),
    sa.Column("threshold", sa.Float, nullable=False),
    sa.Column("window_s", sa.Integer, nullable=False),
    sa.Column("cooldown_s", sa.Integer, nullable=False),
    sa.Column("sinks", JSON, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", Ms, nullable=False),
    sa.Column("updated_at", Ms, nullable=False),
    sa.Column("updated_by", sa.String(200)),
)

alert_events = sa.Table(
    "alert_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("rule", sa.String(200), nullable=False),
    sa.Column("endpoint", sa.String(200), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # firing | resolved
    sa.Column("value", sa.Float),
    sa.Column("threshold", sa.Float, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("at", Ms, nullable=False),
    sa.Column("deliveries", JSON, nullable=False),
    sa.Index(None, "rule", "at"),
    sa.Index(None, "at"),
)
