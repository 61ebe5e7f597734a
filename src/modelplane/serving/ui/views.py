"""What each dashboard page shows, gathered from the workspace's services (no HTML here).

Every function takes the workspace acting as the caller and returns the template's context:
records, plain values and chart documents (``{"key", "x", "series": [{"label", "values"}]}``,
non-finite numbers as ``null`` so the page's JSON parses).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from modelplane.errors import InvalidInputError, ModelplaneError, NotFoundError
from modelplane.serving.ui.card import card_blocks

if TYPE_CHECKING:
    from modelplane.context import Workspace
    from modelplane.tracking.records import MetricPoint, RunInfo

LATEST = 10
MAX_RUNS = 1000
"""Runs an experiment page lists (the newest)."""
MAX_COLUMNS = 40
"""Param and metric columns of a runs table."""
MAX_COMPARE = 20
AUDIT_PAGE = 50


def iso(ms: int | None) -> str:
    """Epoch milliseconds as ISO 8601 (UTC), or an empty string."""
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="seconds")


def finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def duration(info: RunInfo) -> str:
    if info.end_time is None:
        return ""
    seconds = max(0, info.end_time - info.start_time) / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min {rest} s"


def summary(value: Any, limit: int = 200) -> str:
    """A short one-line form of an audit document (before/after)."""
    if value is None:
        return ""
    text = json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _keys(dicts: Iterable[dict[str, Any]]) -> list[str]:
    return sorted({k for d in dicts for k in d})[:MAX_COLUMNS]


# -- overview -----------------------------------------------------------------------------------


def overview(ws: Workspace) -> dict[str, Any]:
    experiments = ws.tracking.list_experiments()
    models = sorted(ws.registry.list_models(), key=lambda m: m.updated_at, reverse=True)
    endpoints = ws.endpoints.list()
    entries = ws.audit.list(limit=LATEST)
    return {
        "counts": {
            "experiments": len(experiments),
            "models": len(models),
            "endpoints": len(endpoints),
            "audit entries": entries[0].seq if entries else 0,
        },
        "runs": ws.tracking.list_runs(None, max_results=LATEST),
        "models": models[:LATEST],
        "endpoints": sorted(endpoints, key=lambda e: e.updated_at, reverse=True)[:LATEST],
        "entries": entries,
    }


# -- experiments and runs -----------------------------------------------------------------------


def experiments(ws: Workspace) -> dict[str, Any]:
    return {"experiments": ws.tracking.list_experiments()}


def experiment(ws: Workspace, name: str) -> dict[str, Any]:
    found = ws.tracking.find_experiment(name)
    if found is None:
        raise NotFoundError(f"no experiment named {name!r}", field="name")
    runs = ws.tracking.list_runs(name, max_results=MAX_RUNS)
    return {
        "experiment": found,
        "runs": runs,
        "capped": len(runs) >= MAX_RUNS,
        "param_keys": _keys(r.params for r in runs),
        "metric_keys": _keys(r.metrics for r in runs),
    }


def _chart(key: str, series: list[tuple[str, list[MetricPoint]]]) -> dict[str, Any]:
    """One chart over steps: every point of a single series; several series are aligned on
    the union of their steps (a missing step is a gap)."""
    if len(series) == 1:
        label, points = series[0]
        return {
            "key": key,
            "x": [p.step for p in points],
            "series": [{"label": label, "values": [finite(p.value) for p in points]}],
        }
    steps = sorted({p.step for _, points in series for p in points})
    out = []
    for label, points in series:
        by_step = {p.step: finite(p.value) for p in points}
        out.append({"label": label, "values": [by_step.get(s) for s in steps]})
    return {"key": key, "x": steps, "series": out}


def _artifacts(ws: Workspace, info: RunInfo) -> list[dict[str, Any]] | None:
    """The run's artifact files, where run handles can list them (None: they cannot)."""
    store = getattr(ws, "run_artifacts", None)
    if store is None:
        return None
    try:
        from modelplane.tracking.run import Run

        handle: Any = Run(ws.tracking, info, store)  # type: ignore[call-arg,unused-ignore]
    except (ImportError, TypeError):  # a handle without every primitive
        return None
    lister = getattr(handle, "list_artifacts", None)
    if lister is None:
        return None
    try:
        return [{"path": e.path, "size": e.size, "sha256": e.sha256} for e in lister()]
    except (ModelplaneError, NotImplementedError):
        return None


def run(ws: Workspace, run_id: str) -> dict[str, Any]:
    info = ws.tracking.get_run(run_id)
    charts = [
        _chart(key, [(info.name, ws.tracking.metric_history(run_id, key))])
        for key in sorted(info.metrics)
    ]
    return {
        "run": info,
        "duration": duration(info),
        "charts": charts,
        "artifacts": _artifacts(ws, info),
    }


def run_ids(values: Iterable[str]) -> list[str]:
    """``?runs=a,b&runs=c`` → ``[a, b, c]`` (each once, in order)."""
    ids = [part.strip() for value in values for part in value.split(",") if part.strip()]
    unique = list(dict.fromkeys(ids))
    if len(unique) > MAX_COMPARE:
        raise InvalidInputError(
            f"{len(unique)} runs to compare; at most {MAX_COMPARE}", field="runs"
        )
    for run_id in unique:
        if len(run_id) > 32:
            raise InvalidInputError(f"run id {run_id[:40]!r}… is too long", field="runs")
    return unique


def compare(ws: Workspace, ids: list[str]) -> dict[str, Any]:
    infos = [ws.tracking.get_run(i) for i in ids]
    labels = [f"{i.name} ({i.id[:8]})" for i in infos]

    def rows(attr: str) -> list[dict[str, Any]]:
        out = []
        for key in sorted({k for i in infos for k in getattr(i, attr)}):
            values = [getattr(i, attr).get(key) for i in infos]
            shown = ["" if v is None else v for v in values]
            out.append({"key": key, "values": shown, "differs": len({str(v) for v in values}) > 1})
        return out

    metric_keys = sorted({k for i in infos for k in i.metrics})
    charts = [
        _chart(
            key,
            [
                (label, ws.tracking.metric_history(i.id, key))
                for label, i in zip(labels, infos, strict=True)
                if key in i.metrics
            ],
        )
        for key in metric_keys
    ]
    return {
        "runs": infos,
        "labels": labels,
        "params": rows("params"),
        "metrics": rows("metrics"),
        "charts": charts,
    }


# -- models -------------------------------------------------------------------------------------


def models(ws: Workspace) -> dict[str, Any]:
    return {"models": ws.registry.list_models()}


def model(ws: Workspace, name: str) -> dict[str, Any]:
    registered = ws.registry.get_model(name)
    versions = sorted(ws.registry.versions(name), key=lambda v: v.version, reverse=True)
    return {
        "model": registered,
        "versions": versions,
        "history": ws.registry.alias_history(name),
        "rules": ws.registry.alias_rules.list(name),
    }


def _serving(ws: Workspace, name: str, version: int) -> list[dict[str, str]]:
    """The endpoints whose model URIs resolve to ``name`` v``version`` now."""
    out = []
    for endpoint in ws.endpoints.list():
        for uri in endpoint.config.model_uris:
            try:
                mv = ws.registry.resolve(uri)
            except ModelplaneError:
                continue
            if mv.name == name and mv.version == version:
                out.append({"endpoint": endpoint.name, "uri": uri})
    return out


def version(ws: Workspace, name: str, number: int) -> dict[str, Any]:
    mv = ws.registry.get_version(name, number)
    run_info = None
    if mv.run_id:
        try:
            run_info = ws.tracking.get_run(mv.run_id)
        except NotFoundError:
            run_info = None
    signature = mv.signature or {}
    return {
        "version": mv,
        "card": card_blocks(mv.model_card),
        "inputs": signature.get("inputs") or [],
        "signature": {k: v for k, v in signature.items() if k != "inputs"},
        "run": run_info,
        "endpoints": _serving(ws, name, number),
    }


# -- endpoints ----------------------------------------------------------------------------------


def endpoints(ws: Workspace, states: dict[str, str]) -> dict[str, Any]:
    rows = [
        {"endpoint": e, "uris": e.config.model_uris, "state": states.get(e.name, "not loaded")}
        for e in ws.endpoints.list()
    ]
    return {"endpoints": rows}


def endpoint(ws: Workspace, name: str) -> dict[str, Any]:
    record = ws.endpoints.get(name)
    config = record.config.model_dump(mode="json", exclude_defaults=True)
    return {
        "endpoint": record,
        "uris": record.config.model_uris,
        "config": json.dumps(config, indent=2, sort_keys=True),
    }


# -- audit --------------------------------------------------------------------------------------


def audit(
    ws: Workspace, target: str | None, actor: str | None, before: int | None
) -> dict[str, Any]:
    entries = ws.audit.list(target=target, actor=actor, before=before, limit=AUDIT_PAGE + 1)
    more = len(entries) > AUDIT_PAGE
    entries = entries[:AUDIT_PAGE]
    return {
        "entries": entries,
        "next_before": entries[-1].seq if more and entries else None,
        "target": target or "",
        "actor": actor or "",
    }


__all__ = [
    "audit",
    "compare",
    "endpoint",
    "endpoints",
    "experiment",
    "experiments",
    "finite",
    "iso",
    "model",
    "models",
    "overview",
    "run",
    "run_ids",
    "summary",
    "version",
]
