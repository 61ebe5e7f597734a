"""Experiments and runs: create and end runs, log params, metric batches, tags and datasets, read
runs and metric histories, and search runs with the filter language."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import Path, Query
from fastapi.responses import Response
from pydantic import Field, JsonValue

from modelplane.core.lifecycle import LIFECYCLES, Lifecycle
from modelplane.core.names import FIELD_KEY_PATTERN, MAX_FIELD_KEY_LEN
from modelplane.core.uris import DATASET_URI_PATTERN
from modelplane.errors import InvalidInputError, PayloadTooLargeError
from modelplane.serving.api.common import (
    INTEGRAL,
    JSON_BODY_LIMIT,
    MAX_ENTRIES,
    MAX_SAFE_INT,
    Body,
    Id,
    Name,
    Routes,
    Value,
    WorkspaceDep,
    allow,
    json_response,
    printable,
)
from modelplane.serving.permissions import Permission
from modelplane.tracking.records import Experiment

MAX_POINTS = 100_000
"""Metric points per request; a larger batch answers 413 (split it)."""
METRICS_BODY_LIMIT = 64 * 1024 * 1024
MAX_SEARCH_RESULTS = 100_000

routes = Routes("experiments")
# Run ids are 32 hexadecimal digits, but no pattern: logging nothing (no points, no params)
# to any id of at most 32 characters succeeds without looking the run up.
RunId = Annotated[str, Path(min_length=1, max_length=32, description="the run id")]
Step = Annotated[int, Field(strict=True, ge=-MAX_SAFE_INT, le=MAX_SAFE_INT), INTEGRAL]
Millis = Annotated[int, Field(strict=True, ge=0, le=MAX_SAFE_INT), INTEGRAL]
RunName = Annotated[str, Field(min_length=1, max_length=200, json_schema_extra=printable)]
Context = Annotated[str, Field(min_length=1, max_length=64, json_schema_extra=printable)]
Key = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_FIELD_KEY_LEN,
        json_schema_extra={"pattern": FIELD_KEY_PATTERN},
    ),
]
"""A run's param, metric or tag key (:func:`~modelplane.core.names.check_field_key`)."""


def _field_keys(schema: dict[str, Any]) -> None:
    schema["propertyNames"] = {"pattern": FIELD_KEY_PATTERN, "maxLength": MAX_FIELD_KEY_LEN}


MapKey = Annotated[str, Field(min_length=1, max_length=MAX_FIELD_KEY_LEN)]
TagMap = Annotated[
    dict[MapKey, Value], Field(max_length=MAX_ENTRIES, json_schema_extra=_field_keys)
]
"""A run's tags: key → scalar (stored as text)."""
ParamMap = Annotated[
    dict[MapKey, JsonValue], Field(max_length=MAX_ENTRIES, json_schema_extra=_field_keys)
]
"""A run's params: key → any JSON value, kept with its type (at most 6,000 characters each)."""
BODY_ERRORS = (400, 404, 409, 413, 415)
"""What a route writing a run's data from a JSON body can answer besides the common ones."""


def _experiment(exp: Experiment) -> dict[str, Any]:
    created = datetime.fromtimestamp(exp.created_at / 1000, tz=UTC).isoformat()
    return {"id": exp.id, "name": exp.name, "created_at": created}


# -- bodies -------------------------------------------------------------------------------------


class ExperimentIn(Body):
    name: Name


class RunIn(Body):
    experiment: Name = "Default"
    name: RunName | None = None
    tags: TagMap | None = None
    source: Annotated[str, Field(max_length=1000)] | None = None
    code_version: Annotated[str, Field(max_length=64)] | None = None


class EndIn(Body):
    status: Literal["FINISHED", "FAILED", "KILLED"] = "FINISHED"


class ParamsIn(Body):
    params: ParamMap


class TagsIn(Body):
    tags: TagMap


class PointIn(Body):
    key: Key
    value: Annotated[float | None, Field(strict=True, description="null means NaN")]
    step: Step | None = None
    timestamp: Annotated[Millis | None, Field(description="epoch milliseconds")] = None


class MetricsIn(Body):
    # more points answer 413 (split the batch), not 422: declared, not enforced by validation
    points: Annotated[list[PointIn], Field(json_schema_extra={"maxItems": MAX_POINTS})]


class DatasetLinkIn(Body):
    """The dataset version by id or by URI: exactly one of the two (400 otherwise)."""

    dataset_version_id: Id | None = None
    dataset: (
        Annotated[
            str,
            Field(
                max_length=300,
                description="datasets:/NAME/VERSION, datasets:/NAME@latest or datasets:/NAME",
                json_schema_extra={"pattern": DATASET_URI_PATTERN},
            ),
        ]
        | None
    ) = None
    context: Context = "training"


# -- experiments --------------------------------------------------------------------------------


@routes.get(
    "/experiments",
    summary="List experiments, with their number of runs and last run time",
    dependencies=allow(Permission.VIEWER),
)
def list_experiments(ws: WorkspaceDep) -> Response:
    return json_response([e.to_dict() for e in ws.tracking.experiment_summaries()])


@routes.post(
    "/experiments",
    summary="Create an experiment (or return the existing one)",
    dependencies=allow(Permission.OPERATOR),
    max_body_size=JSON_BODY_LIMIT,
    errors=(400, 409, 413, 415),
)
def create_experiment(body: ExperimentIn, ws: WorkspaceDep) -> Response:
    return json_response(_experiment(ws.tracking.get_or_create_experiment(body.name)))


# -- runs ---------------------------------------------------------------------------------------


@routes.post(
    "/runs",
    summary="Start a run",
    status_code=201,
    dependencies=allow(Permission.OPERATOR),
    max_body_size=JSON_BODY_LIMIT,
    errors=(400, 409, 413, 415),
)
def create_run(body: RunIn, ws: WorkspaceDep) -> Response:
    info = ws.tracking.create_run(
        body.experiment,
        body.name,
        tags=None if body.tags is None else {k: str(v) for k, v in body.tags.items()},
        source=body.source,
        code_version=body.code_version,
    )
    return json_response(info.to_dict(), 201)


@routes.get(
    "/runs", summary="Search runs", dependencies=allow(Permission.VIEWER), errors=(400, 404)
)
def search_runs(
    ws: WorkspaceDep,
    # lists default to empty, not None: a query parameter is never null, and one value is a
    # list of one (what the document says, and what a client sends)
    experiment: Annotated[
        list[str], Query(max_length=100, description="experiment name(s)", default_factory=list)
    ],
    order_by: Annotated[
        list[str],
        Query(max_length=20, description="e.g. 'metrics.auc DESC'", default_factory=list),
    ],
    filter_: Annotated[
        str | None,
        Query(alias="filter", max_length=10_000, description="e.g. metrics.auc > 0.9"),
    ] = None,
    max_results: Annotated[int, Query(ge=1, le=MAX_SEARCH_RESULTS)] = 1000,
    lifecycle: Annotated[
        Lifecycle, Query(description=f"which runs: {', '.join(LIFECYCLES)} (default active)")
    ] = "active",
) -> Response:
    infos = ws.tracking.list_runs(
        experiment or None,
        filter_,
        order_by=order_by or None,
        max_results=max_results,
        lifecycle=lifecycle,
    )
    return json_response([info.to_dict() for info in infos])


@routes.get(
    "/runs/{run_id}", summary="Get a run", dependencies=allow(Permission.VIEWER), errors=(404,)
)
def get_run(run_id: RunId, ws: WorkspaceDep) -> Response:
    return json_response(ws.tracking.get_run(run_id).to_dict())


@routes.delete(
    "/runs/{run_id}",
    summary="Delete a run (hidden from searches, kept, restorable)",
    status_code=204,
    dependencies=allow(Permission.ADMIN),
    errors=(400, 404),
)
def delete_run(run_id: RunId, ws: WorkspaceDep) -> Response:
    ws.tracking.delete_run(run_id)
    return Response(status_code=204)


@routes.post(
    "/runs/{run_id}/restore",
    summary="Restore a deleted run",
    dependencies=allow(Permission.OPERATOR),
    errors=(400, 404),
)
def restore_run(run_id: RunId, ws: WorkspaceDep) -> Response:
    return json_response(ws.tracking.restore_run(run_id).to_dict())


@routes.post(
    "/runs/{run_id}/end",
    summary="End a run (FINISHED, FAILED or KILLED)",
    status_code=204,
    dependencies=allow(Permission.OPERATOR),
    max_body_size=JSON_BODY_LIMIT,
    errors=BODY_ERRORS,
)
def end_run(run_id: RunId, body: EndIn, ws: WorkspaceDep) -> Response:
    ws.tracking.end_run(run_id, body.status)
    return Response(status_code=204)


@routes.post(
    "/runs/{run_id}/params",
    summary="Log params (immutable once logged)",
    status_code=204,
    dependencies=allow(Permission.OPERATOR),
    max_body_size=JSON_BODY_LIMIT,
    errors=BODY_ERRORS,
)
def log_params(run_id: RunId, body: ParamsIn, ws: WorkspaceDep) -> Response:
    ws.tracking.log_params(run_id, body.params)
    return Response(status_code=204)


@routes.post(
    "/runs/{run_id}/metrics",
    summary="Log a batch of metric points in one transaction",
    description=f"At most {MAX_POINTS} points per request; a null step means the metric's next "
    "step, a null timestamp means now, a null value is NaN.",
    dependencies=allow(Permission.OPERATOR),
    max_body_size=METRICS_BODY_LIMIT,
    errors=BODY_ERRORS,
)
def log_metrics(run_id: RunId, body: MetricsIn, ws: WorkspaceDep) -> Response:
    if len(body.points) > MAX_POINTS:
        raise PayloadTooLargeError(
            f"{len(body.points)} metric points in one request; the limit is {MAX_POINTS}: split "
            "the batch",
            field="points",
        )
    points = (
        (p.key, math.nan if p.value is None else p.value, p.step, p.timestamp) for p in body.points
    )
    return json_response({"logged": ws.tracking.log_batch(run_id, points)})


@routes.get(
    "/runs/{run_id}/metrics/history",
    summary="All points of one metric, by step",
    dependencies=allow(Permission.VIEWER),
    errors=(404,),
)
def metric_history(
    run_id: RunId, key: Annotated[str, Query(min_length=1, max_length=250)], ws: WorkspaceDep
) -> Response:
    points = ws.tracking.metric_history(run_id, key)
    return json_response(
        [{"key": p.key, "value": p.value, "step": p.step, "timestamp": p.timestamp} for p in points]
    )


@routes.post(
    "/runs/{run_id}/tags",
    summary="Set tags (existing keys are overwritten)",
    status_code=204,
    dependencies=allow(Permission.OPERATOR),
    max_body_size=JSON_BODY_LIMIT,
    errors=BODY_ERRORS,
)
def set_tags(run_id: RunId, body: TagsIn, ws: WorkspaceDep) -> Response:
    ws.tracking.set_tags(run_id, body.tags)
    return Response(status_code=204)


@routes.post(
    "/runs/{run_id}/datasets",
    summary="Record a dataset version the run used",
    status_code=204,
    dependencies=allow(Permission.OPERATOR),
    max_body_size=JSON_BODY_LIMIT,
    errors=BODY_ERRORS,
)
def link_dataset(run_id: RunId, body: DatasetLinkIn, ws: WorkspaceDep) -> Response:
    if body.dataset is not None and body.dataset_version_id is None:
        version = ws.datasets.get(body.dataset)  # 400 for a bad URI, 404 for an unknown one
    elif body.dataset_version_id is not None and body.dataset is None:
        version = ws.datasets.get_by_id(body.dataset_version_id)  # 404 for an unknown version
    else:
        raise InvalidInputError(
            "give exactly one of dataset (a datasets:/ URI) and dataset_version_id",
            field="dataset",
        )
    ws.tracking.log_dataset(run_id, version.id, body.context)
    return Response(status_code=204)
