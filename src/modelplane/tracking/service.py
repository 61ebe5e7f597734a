"""Tracking service: experiments and runs over the metadata store.

Metric points go to ``metrics`` (the full series) and ``latest_metrics`` (what search filters on).
Points logged in one call are written in one transaction with one ``executemany`` — thousands of
points cost one commit. A call that returned is committed (see docs/durability.md).
"""

from __future__ import annotations

import math
import numbers
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelplane.audit import AuditLog
from modelplane.core.lifecycle import check_lifecycle
from modelplane.core.names import check_field_key, check_key, check_name
from modelplane.core.sql import now_ms, upsert
from modelplane.core.uris import dataset_ref
from modelplane.errors import ConflictError, InvalidInputError, NotFoundError
from modelplane.stores.metadata import MetadataStore
from modelplane.stores.metadata.repository import get_or_create, insert_or_ignore
from modelplane.stores.metadata.schema import (
    dataset_versions,
    datasets,
    experiments,
    metrics,
    run_datasets,
    run_params,
    run_tags,
    runs,
)
from modelplane.tracking.filters import parse_filter, to_sql
from modelplane.tracking.params import encode_param
from modelplane.tracking.query import RunPage, fetch_runs
from modelplane.tracking.records import (
    RUN_STATUSES,
    Experiment,
    ExperimentSummary,
    MetricPoint,
    RunInfo,
)

if TYPE_CHECKING:
    import pandas as pd

MAX_TAG_VALUE = 6000
MAX_POINTS_PER_CALL = 1_000_000
DEFAULT_EXPERIMENT = "Default"


def _read_value(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _check_run_id(run_id: object) -> str:
    if not isinstance(run_id, str) or not run_id or len(run_id) > 32:
        raise InvalidInputError(f"invalid run id {str(run_id)[:40]!r}", field="run_id")
    return run_id


class TrackingService:
    def __init__(self, meta: MetadataStore, audit: AuditLog, actor: str) -> None:
        self.meta = meta
        self.audit = audit
        self.actor = actor

    # -- experiments ----------------------------------------------------------------------------

    def get_or_create_experiment(self, name: str) -> Experiment:
        check_name(name, "experiment name")
        found = self.find_experiment(name)  # the common case, without taking the write lock
        if found is not None:
            return found
        with self.meta.write() as conn:
            exp_id, created = get_or_create(
                conn, experiments, key="name", value=name, defaults={"created_at": now_ms()}
            )
            if created:
                self.audit.append(
                    conn,
                    actor=self.actor,
                    action="experiment.create",
                    target=f"experiments/{name}",
                    after={"id": exp_id, "name": name},
                )
            row = conn.execute(sa.select(experiments).where(experiments.c.id == exp_id)).one()
        return Experiment(row.id, row.name, row.created_at)

    def find_experiment(self, name: str) -> Experiment | None:
        with self.meta.read() as conn:
            row = conn.execute(sa.select(experiments).where(experiments.c.name == name)).first()
        return None if row is None else Experiment(row.id, row.name, row.created_at)

    def list_experiments(self) -> list[Experiment]:
        with self.meta.read() as conn:
            rows = conn.execute(sa.select(experiments).order_by(experiments.c.id)).all()
        return [Experiment(r.id, r.name, r.created_at) for r in rows]

    def experiment_summaries(self) -> list[ExperimentSummary]:
        """Every experiment with the number of its runs and its last run's start (deleted runs
        left out), in creation order."""
        active = runs.c.deleted_at.is_(None)
        counts = (
            sa.select(
                runs.c.experiment_id,
                sa.func.count().label("n"),
                sa.func.max(runs.c.start_time).label("last"),
            )
            .where(active)
            .group_by(runs.c.experiment_id)
            .subquery()
        )
        query = (
            sa.select(experiments, counts.c.n, counts.c.last)
            .select_from(experiments.outerjoin(counts, counts.c.experiment_id == experiments.c.id))
            .order_by(experiments.c.id)
        )
        with self.meta.read() as conn:
            rows = conn.execute(query).all()
        return [ExperimentSummary(r.id, r.name, r.created_at, r.n or 0, r.last) for r in rows]

    # -- runs -----------------------------------------------------------------------------------

    def create_run(
        self,
        experiment: str = DEFAULT_EXPERIMENT,
        name: str | None = None,
        *,
        tags: Mapping[str, str] | None = None,
        source: str | None = None,
        code_version: str | None = None,
    ) -> RunInfo:
        exp = self.get_or_create_experiment(experiment)
        run_id = uuid.uuid4().hex
        run_name = name if name is not None else f"run-{run_id[:8]}"
        check_key(run_name, "run name", 200)
        start = now_ms()
        tag_rows = self._tag_rows(run_id, tags or {})
        with self.meta.write() as conn:
            conn.execute(
                runs.insert().values(
                    id=run_id,
                    experiment_id=exp.id,
                    name=run_name,
                    status="RUNNING",
                    start_time=start,
                    user=self.actor,
                    source=source,
                    code_version=code_version,
                )
            )
            if tag_rows:
                conn.execute(run_tags.insert(), tag_rows)
        return RunInfo(
            run_id,
            exp.id,
            exp.name,
            run_name,
            "RUNNING",
            start,
            None,
            self.actor,
            source,
            code_version,
            tags=dict(tags or {}),
        )

    def end_run(self, run_id: str, status: str = "FINISHED") -> None:
        if status not in RUN_STATUSES or status == "RUNNING":
            raise InvalidInputError(
                f"status must be one of FINISHED, FAILED, KILLED, got {status!r}", field="status"
            )
        with self.meta.write() as conn:
            self._require_run(conn, run_id, active=True)
            conn.execute(
                runs.update().where(runs.c.id == run_id).values(status=status, end_time=now_ms())
            )

    def delete_run(self, run_id: str) -> None:
        """Delete a run: it leaves searches (unless asked for) but is kept, with everything it
        logged, until :meth:`restore_run` brings it back. Deleting a deleted run is a no-op."""
        with self.meta.write() as conn:
            row = self._require_run(conn, run_id)
            if row.deleted_at is not None:
                return
            conn.execute(runs.update().where(runs.c.id == run_id).values(deleted_at=now_ms()))
            self.audit.append(
                conn,
                actor=self.actor,
                action="run.delete",
                target=f"runs/{run_id}",
                before={"name": row.name, "status": row.status, "lifecycle": "active"},
                after={"lifecycle": "deleted"},
            )

    def restore_run(self, run_id: str) -> RunInfo:
        """Bring a deleted run back into searches (restoring an active run is a no-op)."""
        with self.meta.write() as conn:
            row = self._require_run(conn, run_id)
            if row.deleted_at is not None:
                conn.execute(runs.update().where(runs.c.id == run_id).values(deleted_at=None))
                self.audit.append(
                    conn,
                    actor=self.actor,
                    action="run.restore",
                    target=f"runs/{run_id}",
                    before={"name": row.name, "lifecycle": "deleted"},
                    after={"lifecycle": "active"},
                )
        return self.get_run(run_id)

    def _require_run(self, conn: Connection, run_id: str, *, active: bool = False) -> Any:
        """The run's row; ``active``: a deleted run is refused (409), as changes to it are."""
        _check_run_id(run_id)
        row = conn.execute(
            sa.select(runs.c.name, runs.c.status, runs.c.deleted_at).where(runs.c.id == run_id)
        ).first()
        if row is None:
            raise NotFoundError(f"no run with id {run_id!r}", field="run_id")
        if active and row.deleted_at is not None:
            raise ConflictError(
                f"run {run_id} is deleted: restore it first (mp.restore_run or "
                f"modelplane runs restore {run_id})",
                field="run_id",
            )
        return row

    # -- params, tags, metrics ------------------------------------------------------------------

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        if not isinstance(params, Mapping):
            raise InvalidInputError("params must be a mapping of name to value", field="params")
        rows = []
        for key, value in params.items():
            check_field_key(key, "param name")
            stored = encode_param(key, value)
            rows.append(
                {
                    "run_id": run_id,
                    "key": key,
                    "value": stored.text,
                    "value_json": stored.value_json,
                    "num": stored.num,
                }
            )
        if not rows:
            return
        with self.meta.write() as conn:
            self._require_run(conn, run_id, active=True)
            keys = [r["key"] for r in rows]
            existing = dict(
                conn.execute(
                    sa.select(run_params.c.key, run_params.c.value).where(
                        run_params.c.run_id == run_id, run_params.c.key.in_(keys)
                    )
                ).all()
            )
            for row in rows:
                old = existing.get(row["key"])
                if old is not None and old != row["value"]:
                    raise ConflictError(
                        f"param {row['key']!r} of run {run_id} is already {old!r}; params are "
                        f"immutable (got {row['value']!r})",
                        field=f"params.{row['key']}",
                    )
            new_rows = [r for r in rows if r["key"] not in existing]
            if new_rows:
                conn.execute(run_params.insert(), new_rows)

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        rows = self._tag_rows(run_id, tags)
        if not rows:
            return
        with self.meta.write() as conn:
            self._require_run(conn, run_id, active=True)
            upsert(conn, run_tags, rows, keys=("run_id", "key"), update=("value",))

    def _tag_rows(self, run_id: str, tags: Mapping[str, Any]) -> list[dict[str, Any]]:
        if not isinstance(tags, Mapping):
            raise InvalidInputError("tags must be a mapping of name to value", field="tags")
        rows = []
        for key, value in tags.items():
            check_field_key(key, "tag name")
            text = str(value)
            if len(text) > MAX_TAG_VALUE:
                raise InvalidInputError(
                    f"tag {key!r} is longer than {MAX_TAG_VALUE} characters", field=f"tags.{key}"
                )
            rows.append({"run_id": run_id, "key": key, "value": text})
        return rows

    def log_metrics(
        self,
        run_id: str,
        values: Mapping[str, Any],
        step: int | None = None,
        timestamp: int | None = None,
    ) -> None:
        """Log one value per metric at ``step`` (default: each metric's next step)."""
        if not isinstance(values, Mapping):
            raise InvalidInputError("metrics must be a mapping of name to number", field="metrics")
        ts = now_ms() if timestamp is None else int(timestamp)
        points = [(k, v, step, ts) for k, v in values.items()]
        self.log_batch(run_id, points)

    def log_batch(
        self, run_id: str, points: Iterable[tuple[str, Any, int | None, int | None]]
    ) -> int:
        """Log (key, value, step, timestamp) points in one transaction. Returns the count.

        A ``None`` step means "after the last step of that metric"; a ``None`` timestamp is now.
        """
        _check_run_id(run_id)
        now = now_ms()
        # rows are [run_id, key, step, timestamp, value]: the column order of the INSERT
        rows: list[list[Any]] = []
        seen: set[str] = set()
        real, integral = numbers.Real, numbers.Integral
        for item in points:
            try:
                key, value, step, ts = item
            except (TypeError, ValueError) as exc:
                raise InvalidInputError(
                    "each metric point must be (key, value, step, timestamp)", field="metrics"
                ) from exc
            if key not in seen:
                check_field_key(key, "metric name")
                seen.add(key)
            if type(value) is not float:
                if isinstance(value, bool) or not isinstance(value, real):
                    raise InvalidInputError(
                        f"metric {key!r} must be a number, got {type(value).__name__}",
                        field=f"metrics.{key}",
                    )
                value = float(value)
            if math.isnan(value):  # NaN is stored as NULL
                value = None
            if step is not None and type(step) is not int:
                if isinstance(step, bool) or not isinstance(step, integral):
                    raise InvalidInputError(
                        f"step of metric {key!r} must be an integer", field="step"
                    )
                step = int(step)
            rows.append([run_id, key, step, now if ts is None else int(ts), value])
            if len(rows) > MAX_POINTS_PER_CALL:
                raise InvalidInputError(
                    f"more than {MAX_POINTS_PER_CALL} points in one call; split the batch",
                    field="metrics",
                )
        if rows:
            self._write_points(run_id, rows)
        return len(rows)

    def _write_points(self, run_id: str, rows: list[list[Any]]) -> None:
        """One transaction on a raw DB-API cursor: fill missing steps, insert the points, move
        the latest values. The run's existence is checked by the foreign key."""
        p = self.meta.placeholder
        with self.meta.raw_write() as cur:
            try:
                cur.execute(f"SELECT deleted_at FROM runs WHERE id = {p}", (run_id,))
                found = cur.fetchone()
                if found is not None and found[0] is not None:
                    raise ConflictError(
                        f"run {run_id} is deleted: restore it first (mp.restore_run or "
                        f"modelplane runs restore {run_id})",
                        field="run_id",
                    )
                missing = sorted({r[1] for r in rows if r[2] is None})
                if missing:
                    cur.execute(
                        f"SELECT key, step FROM latest_metrics WHERE run_id = {p} "
                        f"AND key IN ({', '.join([p] * len(missing))})",
                        (run_id, *missing),
                    )
                    nxt = {k: s + 1 for k, s in cur.fetchall()}
                    for r in rows:
                        if r[2] is None:
                            r[2] = nxt.get(r[1], 0)
                        nxt[r[1]] = max(nxt.get(r[1], 0), r[2] + 1)
                latest: dict[str, list[Any]] = {}
                for r in rows:
                    old = latest.get(r[1])
                    if old is None or (r[2], r[3]) >= (old[2], old[3]):
                        latest[r[1]] = r
                insert = (
                    'INSERT INTO metrics (run_id, key, step, "timestamp", value) '
                    f"VALUES ({p}, {p}, {p}, {p}, {p})"
                )
                upsert_sql = (
                    'INSERT INTO latest_metrics (run_id, key, step, "timestamp", value) '
                    f"VALUES ({p}, {p}, {p}, {p}, {p}) ON CONFLICT (run_id, key) DO UPDATE SET "
                    'step = excluded.step, "timestamp" = excluded."timestamp", '
                    "value = excluded.value WHERE excluded.step > latest_metrics.step OR "
                    "(excluded.step = latest_metrics.step AND "
                    'excluded."timestamp" >= latest_metrics."timestamp")'
                )
                for sql, batch in ((insert, rows), (upsert_sql, list(latest.values()))):
                    if len(batch) == 1:
                        cur.execute(sql, batch[0])
                    else:
                        cur.executemany(sql, batch)
            except self.meta.dbapi_integrity_error as exc:
                # The only constraint these statements can break is the run's foreign key: caught
                # inside the block, before the store would report a generic conflict.
                raise NotFoundError(f"no run with id {run_id!r}", field="run_id") from exc

    def log_dataset(
        self, run_id: str, dataset_version_id: int | str, context: str = "training"
    ) -> None:
        """Record that the run used a dataset version: its id, or a ``datasets:/NAME/VERSION``
        URI (``datasets:/NAME`` or ``@latest``: the newest version)."""
        check_key(context, "dataset context", 64)
        if isinstance(dataset_version_id, str):
            ref = dataset_ref(dataset_version_id)
            query = (
                sa.select(dataset_versions.c.id)
                .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
                .where(datasets.c.name == ref.name)
            )
            if ref.version is None:
                query = query.order_by(dataset_versions.c.version.desc()).limit(1)
            else:
                query = query.where(dataset_versions.c.version == ref.version)
            missing = f"no dataset version {ref}"
        elif isinstance(dataset_version_id, bool) or not isinstance(dataset_version_id, int):
            raise InvalidInputError(
                "dataset must be a DatasetVersion, its id or a datasets:/ URI", field="dataset"
            )
        else:
            query = sa.select(dataset_versions.c.id).where(
                dataset_versions.c.id == dataset_version_id
            )
            missing = f"no dataset version with id {dataset_version_id}"
        with self.meta.write() as conn:
            self._require_run(conn, run_id, active=True)
            known = conn.execute(query).scalar()
            if known is None:
                raise NotFoundError(missing, field="dataset")
            dataset_version_id = int(known)
            # Logging the same dataset twice (even concurrently) is a no-op.
            insert_or_ignore(
                conn,
                run_datasets,
                {"run_id": run_id, "dataset_version_id": dataset_version_id, "context": context},
                keys=("run_id", "dataset_version_id", "context"),
            )

    # -- reading --------------------------------------------------------------------------------

    def get_run(self, run_id: str) -> RunInfo:
        with self.meta.read() as conn:
            self._require_run(conn, run_id)
            mark = self.meta.placeholder
            page = fetch_runs(conn, [f"r.id = {mark}"], [run_id])
        return _infos(page)[0]

    def metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        with self.meta.read() as conn:
            self._require_run(conn, run_id)
            rows = conn.execute(
                sa.select(metrics.c.key, metrics.c.value, metrics.c.step, metrics.c.timestamp)
                .where(metrics.c.run_id == run_id, metrics.c.key == key)
                .order_by(metrics.c.step, metrics.c.timestamp, metrics.c.id)
            ).all()
        return [MetricPoint(r.key, _read_value(r.value), r.step, r.timestamp) for r in rows]

    def search_runs(
        self,
        experiment: str | Sequence[str] | None = None,
        filter: str | None = None,
        *,
        order_by: Sequence[str] | None = None,
        max_results: int = 100_000,
        lifecycle: str = "active",
    ) -> pd.DataFrame:
        """A DataFrame with one row per run and ``params.*``, ``metrics.*``, ``tags.*`` columns.

        ``lifecycle``: ``active`` runs (default), ``deleted`` ones or ``all``. An experiment
        that does not exist is a NotFoundError naming it."""
        from modelplane.tracking.frame import runs_frame

        page = self._page(experiment, filter, order_by, max_results, lifecycle)
        return runs_frame(page)

    def list_runs(
        self,
        experiment: str | Sequence[str] | None = None,
        filter: str | None = None,
        *,
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        lifecycle: str = "active",
    ) -> list[RunInfo]:
        page = self._page(experiment, filter, order_by, max_results, lifecycle)
        return _infos(page)

    def _page(
        self,
        experiment: str | Sequence[str] | None,
        filter: str | None,
        order_by: Sequence[str] | None,
        max_results: int,
        lifecycle: str = "active",
    ) -> RunPage:
        stage = check_lifecycle(lifecycle)
        clauses = parse_filter(filter)
        mark = self.meta.placeholder
        where, params = to_sql(clauses, mark)
        if stage != "all":
            where.insert(0, f"r.deleted_at IS {'NULL' if stage == 'active' else 'NOT NULL'}")
        if experiment is not None:
            names = [experiment] if isinstance(experiment, str) else list(experiment)
            ids = []
            for name in names:
                found = self.find_experiment(check_name(name, "experiment"))
                if found is None:
                    raise NotFoundError(f"no experiment named {name!r}", field="experiment")
                ids.append(found.id)
            if not ids:
                return RunPage([], {}, {}, {}, {})
            where.insert(0, f"r.experiment_id IN ({', '.join([mark] * len(ids))})")
            params[:0] = ids
        with self.meta.read() as conn:
            return fetch_runs(
                conn,
                where,
                params,
                order_by=order_by,
                limit=max_results,
            )


def _infos(page: RunPage) -> list[RunInfo]:
    return [
        RunInfo(
            r.id,
            r.experiment_id,
            r.experiment,
            r.name,
            r.status,
            r.start_time,
            r.end_time,
            r.user,
            r.source,
            r.code_version,
            page.params[r.id],
            page.metrics[r.id],
            page.tags[r.id],
            page.datasets[r.id],
            r.deleted_at,
        )
        for r in page.rows
    ]
