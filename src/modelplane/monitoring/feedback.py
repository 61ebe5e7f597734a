"""Feedback: labels joined to answered predictions by prediction id.

:class:`FeedbackService.record` takes ``{"prediction_id", "label"}`` items for one endpoint and
answers per item: ``stored`` (first label), ``unchanged`` (the same label again: a no-op),
``updated`` (a different label: the later one wins; the change is kept in
``prediction_label_history``), or an error (``unknown`` prediction id, an id answered by
another endpoint, an invalid label). The labels of a call are committed in one transaction with
one audit entry before it returns, so an acknowledged label is stored. Labels may arrive any time
while the prediction is in the log (its retention).

Labels are JSON scalars: text (up to 1,000 characters), finite numbers, booleans.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from modelplane.audit import AuditLog
from modelplane.core.sql import now_ms
from modelplane.errors import InvalidInputError
from modelplane.stores.metadata.schema import prediction_label_history, prediction_labels
from modelplane.stores.metadata.store import MetadataStore
from modelplane.stores.predictions import PredictionLog

MAX_ITEMS = 10_000
MAX_LABEL_TEXT = 1000
MAX_LABEL_INT = 2**53  # held exactly by every JSON client
_IN_CHUNK = 500


@dataclass
class FeedbackResult:
    """What happened to each item, in the order given."""

    items: list[dict[str, Any]] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for item in self.items if item["status"] == status)

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [item for item in self.items if item["status"] == "error"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "stored": self.count("stored"),
            "updated": self.count("updated"),
            "unchanged": self.count("unchanged"),
            "errors": len(self.errors),
            "items": self.items,
        }


def check_label(value: Any, where: str) -> Any:
    """A label as stored, or InvalidInputError naming ``where``."""
    if isinstance(value, bool) or (isinstance(value, int) and abs(value) <= MAX_LABEL_INT):
        return value
    if isinstance(value, int):
        raise InvalidInputError(f"{where}: an integer label must lie within ±2**53", field=where)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInputError(f"{where}: a label must be a finite number", field=where)
        return value
    if isinstance(value, str):
        if not value or len(value) > MAX_LABEL_TEXT:
            raise InvalidInputError(
                f"{where}: a text label must have 1 to {MAX_LABEL_TEXT} characters", field=where
            )
        return value
    if value is None:
        raise InvalidInputError(f"{where}: the label is missing (null)", field=where)
    raise InvalidInputError(
        f"{where}: a label must be text, a number or true/false, not {type(value).__name__}",
        field=where,
    )


def _same(a: Any, b: Any) -> bool:
    return (type(a) is type(b) and a == b) or (
        isinstance(a, (int, float))
        and isinstance(b, (int, float))
        and not isinstance(a, bool)
        and not isinstance(b, bool)
        and a == b
    )


class FeedbackService:
    """Labels of one installation (see the module docstring)."""

    def __init__(
        self, store: MetadataStore, log: PredictionLog | None, audit: AuditLog, actor: str
    ) -> None:
        self.store = store
        self.log = log
        self.audit = audit
        self.actor = actor

    def record(self, endpoint: str, items: Sequence[Mapping[str, Any]]) -> FeedbackResult:
        if self.log is None:
            raise InvalidInputError(
                "the prediction log is off (MODELPLANE_PREDICTION_LOG=off): labels cannot be "
                "joined to predictions",
                field="prediction_log",
            )
        if len(items) > MAX_ITEMS:
            raise InvalidInputError(
                f"at most {MAX_ITEMS} labels per call, got {len(items)}; send them in parts",
                field="items",
            )
        result = FeedbackResult()
        valid: dict[str, Any] = {}
        slots: list[tuple[int, str]] = []
        for i, item in enumerate(items):
            where = f"items[{i}]" if len(items) > 1 else "label"
            pid = item.get("prediction_id")
            entry: dict[str, Any] = {"prediction_id": pid, "status": "error"}
            result.items.append(entry)
            if not isinstance(pid, str) or not pid or len(pid) > 64:
                entry["error"] = f"{where}.prediction_id must be a prediction id (text)"
                continue
            try:
                label = check_label(item.get("label"), f"{where}.label")
            except InvalidInputError as exc:
                entry["error"] = str(exc)
                continue
            entry["label"] = label
            valid[pid] = label  # the later of two items for one id wins, as a later call would
            slots.append((i, pid))
        owners = self.log.find(list(valid))
        wanted: dict[str, Any] = {}
        for i, pid in slots:
            entry = result.items[i]
            owner = owners.get(pid)
            if owner is None:
                entry["error"] = f"unknown prediction id {pid!r}"
                entry["code"] = "unknown"
            elif owner != endpoint:
                entry["error"] = (
                    f"prediction {pid!r} was answered by endpoint {owner!r}, not {endpoint!r}"
                )
                entry["code"] = "other_endpoint"
            else:
                wanted[pid] = valid[pid]
        if wanted:
            statuses = self._store(endpoint, wanted)
            for i, pid in slots:
                entry = result.items[i]
                if pid in statuses and entry.get("error") is None:
                    entry["status"] = statuses[pid]
        for entry in result.items:
            if entry["status"] != "error":
                entry.pop("label", None)
        return result

    def _store(self, endpoint: str, labels: dict[str, Any]) -> dict[str, str]:
        for attempt in range(3):
            try:
                return self._store_once(endpoint, labels)
            except sa.exc.IntegrityError:  # another call stored one of these ids first
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _store_once(self, endpoint: str, labels: dict[str, Any]) -> dict[str, str]:
        t = prediction_labels.c
        now = now_ms()
        statuses: dict[str, str] = {}
        with self.store.write() as conn:
            existing: dict[str, Any] = {}
            ids = list(labels)
            for start in range(0, len(ids), _IN_CHUNK):
                chunk = ids[start : start + _IN_CHUNK]
                query = sa.select(t.prediction_id, t.label).where(t.prediction_id.in_(chunk))
                if conn.dialect.name == "postgresql":
                    query = query.with_for_update()
                existing.update({pid: label for pid, label in conn.execute(query)})
            inserts: list[dict[str, Any]] = []
            history: list[dict[str, Any]] = []
            for pid, label in labels.items():
                if pid not in existing:
                    statuses[pid] = "stored"
                    inserts.append(
                        {
                            "prediction_id": pid,
                            "endpoint": endpoint,
                            "label": label,
                            "labelled_at": now,
                            "labelled_by": self.actor,
                            "changes": 0,
                        }
                    )
                    history.append(
                        {
                            "prediction_id": pid,
                            "endpoint": endpoint,
                            "label": label,
                            "previous": None,
                            "at": now,
                            "by": self.actor,
                        }
                    )
                elif _same(existing[pid], label):
                    statuses[pid] = "unchanged"
                else:
                    statuses[pid] = "updated"
                    conn.execute(
                        prediction_labels.update()
                        .where(t.prediction_id == pid)
                        .values(
                            label=label,
                            labelled_at=now,
                            labelled_by=self.actor,
                            changes=t.changes + 1,
                        )
                    )
                    history.append(
                        {
                            "prediction_id": pid,
                            "endpoint": endpoint,
                            "label": label,
                            "previous": existing[pid],
                            "at": now,
                            "by": self.actor,
                        }
                    )
            if inserts:
                conn.execute(prediction_labels.insert(), inserts)
            if history:
                conn.execute(prediction_label_history.insert(), history)
            counts = {s: sum(1 for v in statuses.values() if v == s) for s in ("stored", "updated")}
            if inserts or counts["updated"]:
                self.audit.append(
                    conn,
                    actor=self.actor,
                    action="feedback.record",
                    target=f"endpoints/{endpoint}",
                    after={**counts, "unchanged": len(statuses) - sum(counts.values())},
                )
        return statuses

    # -- reading ------------------------------------------------------------------------------

    def labels(self, prediction_ids: Iterable[str]) -> dict[str, tuple[Any, int]]:
        """(label, labelled_at ms) of each id that has one."""
        t = prediction_labels.c
        ids = list(prediction_ids)
        out: dict[str, tuple[Any, int]] = {}
        with self.store.read() as conn:
            for start in range(0, len(ids), _IN_CHUNK):
                chunk = ids[start : start + _IN_CHUNK]
                for pid, label, at in conn.execute(
                    sa.select(t.prediction_id, t.label, t.labelled_at).where(
                        t.prediction_id.in_(chunk)
                    )
                ):
                    out[pid] = (label, at)
        return out

    def history(self, prediction_id: str) -> list[dict[str, Any]]:
        """Every label a prediction was given, oldest first."""
        t = prediction_label_history.c
        with self.store.read() as conn:
            rows = conn.execute(
                sa.select(t.label, t.previous, t.at, t.by)
                .where(t.prediction_id == prediction_id)
                .order_by(t.id)
            ).all()
        return [{"label": r.label, "previous": r.previous, "at": r.at, "by": r.by} for r in rows]


__all__ = [
    "MAX_ITEMS",
    "MAX_LABEL_INT",
    "MAX_LABEL_TEXT",
    "FeedbackResult",
    "FeedbackService",
    "check_label",
]
