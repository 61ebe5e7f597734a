"""Run artifacts: list a run's files, download one (verified against its recorded SHA-256), and
upload one under a path (multipart, as model files are uploaded; never deserialised)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path as LocalPath
from typing import Annotated, Any

from fastapi import Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from modelplane.serving.api.common import (
    Routes,
    WorkspaceDep,
    allow,
    json_response,
    limited_request,
    max_upload_bytes,
)
from modelplane.serving.api.experiments import RunId
from modelplane.serving.media import UPLOAD_HEADER, check_multipart_upload
from modelplane.serving.permissions import Permission
from modelplane.tracking.artifacts import (
    MAX_PATH_LEN,
    PATH_PATTERN,
    optional_path,
)
from modelplane.tracking.artifacts import artifact_path as check_path

routes = Routes("experiments")

OCTET_STREAM = "application/octet-stream"
BINARY = {"schema": {"type": "string", "format": "binary"}}
ArtifactPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=MAX_PATH_LEN,
        description="the artifact's path in the run, e.g. plots/roc.png",
        json_schema_extra={"pattern": PATH_PATTERN},
    ),
]
UPLOAD_MARKER = {
    "name": UPLOAD_HEADER,
    "in": "header",
    "required": True,
    "description": "any value (mp.Client sends 1): a browser cannot send it cross-site unasked",
    "schema": {"type": "string", "minLength": 1},
}
UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary"}},
                "additionalProperties": False,
            },
            "encoding": {"file": {"contentType": OCTET_STREAM}},
        }
    },
}


def _invalid(loc: tuple[str, ...], message: str, kind: str = "value_error") -> Exception:
    return RequestValidationError([{"type": kind, "loc": ("body", *loc), "msg": message}])


@routes.get(
    "/runs/{run_id}/artifacts",
    summary="List a run's artifact files (all, or those at or below a path)",
    dependencies=allow(Permission.VIEWER),
    errors=(400, 404),
)
def list_artifacts(
    run_id: RunId,
    ws: WorkspaceDep,
    path: Annotated[
        str | None,
        Query(
            max_length=MAX_PATH_LEN,
            description="a file or folder of the run (default: everything)",
            json_schema_extra={"pattern": PATH_PATTERN},
        ),
    ] = None,
) -> Response:
    rel = optional_path(path, "path")
    return json_response([e.to_dict() for e in ws.run_artifacts.list(run_id, rel or None)])


@routes.get(
    "/runs/{run_id}/artifacts/{artifact_path:path}",
    summary="Download one artifact file, verified against its recorded SHA-256",
    response_class=Response,
    responses={200: {"description": "the file's bytes", "content": {OCTET_STREAM: BINARY}}},
    dependencies=allow(Permission.VIEWER),
    errors=(400, 404, 409),
)
def download_artifact(run_id: RunId, artifact_path: ArtifactPath, ws: WorkspaceDep) -> Response:
    data, sha256 = ws.run_artifacts.get_bytes(run_id, artifact_path, field="artifact_path")
    return Response(data, media_type=OCTET_STREAM, headers={"X-Checksum-SHA256": sha256})


@routes.put(
    "/runs/{run_id}/artifacts/{artifact_path:path}",
    summary="Upload a file as one of a run's artifacts",
    description="multipart/form-data with one file part 'file' (and the header "
    f"{UPLOAD_HEADER}). Artifacts are immutable: the same bytes again are a no-op, other bytes "
    "answer 409. Bodies over the server's upload limit answer 413.",
    dependencies=allow(Permission.OPERATOR),
    errors=(400, 404, 409, 413, 415),
    openapi_extra={"requestBody": UPLOAD_BODY, "parameters": [UPLOAD_MARKER]},
)
async def upload_artifact(
    run_id: RunId, artifact_path: ArtifactPath, request: Request, ws: WorkspaceDep
) -> Response:
    rel = check_path(artifact_path, "artifact_path")  # before a byte of the body is read
    check_multipart_upload(request.headers.get("content-type"), request.headers.get(UPLOAD_HEADER))
    limited = limited_request(request, max_upload_bytes(request))
    folder = LocalPath(tempfile.mkdtemp(prefix="mp-upload-"))
    try:
        async with limited.form(max_files=1, max_fields=0) as form:
            upload: UploadFile | None = None
            for key, value in form.multi_items():
                if key == "file" and isinstance(value, UploadFile) and upload is None:
                    upload = value
                else:
                    raise _invalid((key,), "unexpected form part", "extra_forbidden")
            if upload is None:
                raise _invalid(("file",), "Field required", "missing")
            local = folder / "artifact"
            await run_in_threadpool(_save_upload, upload, local)

        def log() -> dict[str, Any]:
            return ws.run_artifacts.log_file(run_id, local, rel).to_dict()

        return json_response(await run_in_threadpool(log))
    finally:
        await run_in_threadpool(shutil.rmtree, folder, True)


def _save_upload(upload: UploadFile, target: LocalPath) -> None:
    upload.file.seek(0)
    with open(target, "xb") as out:
        shutil.copyfileobj(upload.file, out, 1 << 20)
