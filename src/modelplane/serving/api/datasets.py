"""Datasets: register a version by uploading a Parquet or CSV body, list and read versions, and
download a version's stored Parquet bytes (verified against their checksum)."""

from __future__ import annotations

from pathlib import Path as LocalPath
from typing import Annotated, Any

from fastapi import Path, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from modelplane.context import Workspace
from modelplane.core.names import MAX_NAME_LEN, NAME_PATTERN, check_name
from modelplane.core.uris import DATASET_URI_PATTERN, parse_dataset_uri
from modelplane.data.records import DatasetVersion
from modelplane.serving.api.common import (
    Routes,
    WorkspaceDep,
    allow,
    json_response,
    stream_to_file,
)
from modelplane.serving.media import refuse_media
from modelplane.serving.permissions import Permission

routes = Routes("datasets")

PARQUET = "application/vnd.apache.parquet"
CSV = "text/csv"
_SUFFIX = {PARQUET: ".parquet", CSV: ".csv"}

DatasetName = Annotated[
    str,
    Path(
        min_length=1,
        max_length=MAX_NAME_LEN,
        description="dataset name",
        json_schema_extra={"pattern": NAME_PATTERN},
    ),
]
BINARY = {"schema": {"type": "string", "format": "binary"}}
UPLOAD_BODY = {  # a file: any bytes (the server reads them as Parquet or CSV, or answers 400)
    "required": True,
    "content": {PARQUET: {}, CSV: {}},
}
Version = Annotated[int, Path(ge=1, le=999_999_999)]


def _record(ws: Workspace, dv: DatasetVersion, *, sha256: bool = False) -> dict[str, Any]:
    """The version as JSON: ``to_dict()`` plus its ``id`` (for lineage) and, when asked, the
    SHA-256 of the stored Parquet file (what a download is verified against)."""
    out = {"id": dv.id, **dv.to_dict()}
    if sha256:
        info = ws.artifacts.record(dv.artifact_key)
        out["sha256"] = None if info is None else info.sha256
    return out


@routes.post(
    "/datasets/{dataset}/versions",
    summary="Register a dataset version from an uploaded Parquet or CSV file",
    description="The body is the file itself, with Content-Type application/vnd.apache.parquet "
    "or text/csv. Registering content that already exists returns that version.",
    status_code=201,
    dependencies=allow(Permission.OPERATOR),
    errors=(400, 409, 413, 415),
    openapi_extra={"requestBody": UPLOAD_BODY},
)
async def register_dataset(
    dataset: DatasetName,
    request: Request,
    ws: WorkspaceDep,
    source: Annotated[str | None, Query(max_length=1000, description="where it came from")] = None,
) -> Response:
    check_name(dataset, "dataset name")
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    suffix = _SUFFIX.get(media)
    if suffix is None:  # neither is a type browsers send cross-site unasked (media.py)
        raise refuse_media(media.encode("latin-1"), f"{PARQUET} or {CSV}")
    path = await stream_to_file(request, suffix)
    try:

        def register() -> dict[str, Any]:
            dv = ws.datasets.register(dataset, path, source=source or f"upload ({media})")
            return _record(ws, dv, sha256=True)

        return json_response(await run_in_threadpool(register), 201)
    finally:
        LocalPath(path).unlink(missing_ok=True)


@routes.get(
    "/datasets",
    summary="List dataset versions",
    dependencies=allow(Permission.VIEWER),
    errors=(400,),
)
def list_datasets(
    ws: WorkspaceDep,
    name: Annotated[
        str | None,
        Query(
            max_length=MAX_NAME_LEN,
            description="only this dataset",
            json_schema_extra={"pattern": NAME_PATTERN},
        ),
    ] = None,
) -> Response:
    return json_response([_record(ws, dv) for dv in ws.datasets.list(name)])


@routes.get(
    "/datasets/resolve",
    summary="Resolve a datasets:/ URI to the version it names",
    dependencies=allow(Permission.VIEWER),
    errors=(400, 404),
)
def resolve(
    uri: Annotated[
        str,
        Query(
            min_length=1,
            max_length=300,
            description="datasets:/NAME/VERSION, datasets:/NAME@latest or datasets:/NAME",
            json_schema_extra={"pattern": DATASET_URI_PATTERN},
        ),
    ],
    ws: WorkspaceDep,
) -> Response:
    ref = parse_dataset_uri(uri, "uri")  # a bad URI is a 400 naming the query parameter
    return json_response(_record(ws, ws.datasets.get(ref.name, ref.version), sha256=True))


@routes.get(
    "/datasets/{dataset}",
    summary="Get the latest version of a dataset",
    dependencies=allow(Permission.VIEWER),
    errors=(400, 404),
)
def get_latest(dataset: DatasetName, ws: WorkspaceDep) -> Response:
    return json_response(_record(ws, ws.datasets.get(dataset), sha256=True))


@routes.get(
    "/datasets/{dataset}/versions",
    summary="List the versions of a dataset",
    dependencies=allow(Permission.VIEWER),
    errors=(400, 404),
)
def list_versions(dataset: DatasetName, ws: WorkspaceDep) -> Response:
    versions = ws.datasets.list(dataset)
    if not versions:
        ws.datasets.get(dataset)  # 404 for an unknown dataset
    return json_response([_record(ws, dv) for dv in versions])


@routes.get(
    "/datasets/{dataset}/versions/{version}",
    summary="Get a dataset version",
    dependencies=allow(Permission.VIEWER),
    errors=(400, 404),
)
def get_version(dataset: DatasetName, version: Version, ws: WorkspaceDep) -> Response:
    return json_response(_record(ws, ws.datasets.get(dataset, version), sha256=True))


@routes.get(
    "/datasets/{dataset}/versions/{version}/data",
    summary="Download a dataset version as Parquet",
    response_class=Response,
    responses={200: {"description": "the stored Parquet file", "content": {PARQUET: BINARY}}},
    dependencies=allow(Permission.VIEWER),
    errors=(400, 404, 409),
)
def download(dataset: DatasetName, version: Version, ws: WorkspaceDep) -> Response:
    dv = ws.datasets.get(dataset, version)
    data = ws.artifacts.get_bytes(dv.artifact_key)  # verified against the recorded SHA-256
    return Response(
        data,
        media_type=PARQUET,
        headers={
            "Content-Disposition": f'attachment; filename="{dv.name}-{dv.version}.parquet"',
        },
    )
