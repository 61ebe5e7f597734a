"""The model registry: models, versions (registered by uploading a flavor's files, never
deserialised on the server), URI resolution, aliases with history, version updates and deletion,
and verified downloads of a version's files."""

from __future__ import annotations

import shutil
import tempfile
from functools import partial
from pathlib import Path as LocalPath
from typing import Annotated, Any

from fastapi import Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import Field, StrictBool, StrictFloat, StrictInt, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from modelplane.core.lifecycle import LIFECYCLES, Lifecycle
from modelplane.core.names import (
    ALIAS_PATTERN,
    ARTIFACT_KEY_PATTERN,
    MAX_ALIAS_LEN,
    MAX_KEY_LEN,
    MAX_NAME_LEN,
    NAME_PATTERN,
    check_alias,
    check_artifact_key,
    check_name,
)
from modelplane.core.safepaths import check_member_name
from modelplane.core.uris import MODEL_URI_PATTERN, ModelRef
from modelplane.errors import InvalidInputError, NotFoundError, UnsupportedMediaError
from modelplane.registry.examples import INPUT_EXAMPLE
from modelplane.registry.flavors.base import MODEL_FILE_NAMES
from modelplane.registry.records import VersionFacts
from modelplane.serving.api.common import (
    INTEGRAL,
    JSON_BODY_LIMIT,
    Body,
    Id,
    MapKey,
    Routes,
    WorkspaceDep,
    allow,
    json_response,
    limited_request,
    max_upload_bytes,
    printable_keys,
)
from modelplane.serving.media import UPLOAD_HEADER, check_multipart_upload
from modelplane.serving.permissions import Permission

routes = Routes("models")

UPLOAD_FILE_NAMES = MODEL_FILE_NAMES | {INPUT_EXAMPLE}
"""The only file names a registration upload may carry (flat, no folders)."""
META_LIMIT = 1024 * 1024

ModelName = Annotated[
    str,
    Path(
        min_length=1,
        max_length=MAX_NAME_LEN,
        description="model name",
        json_schema_extra={"pattern": NAME_PATTERN},
    ),
]
Version = Annotated[int, Path(ge=1, le=999_999_999)]
Alias = Annotated[
    str,
    Path(min_length=1, max_length=MAX_ALIAS_LEN, json_schema_extra={"pattern": ALIAS_PATTERN}),
]
SettableAlias = Annotated[
    str,
    Path(
        min_length=1,
        max_length=MAX_ALIAS_LEN,
        description="any alias but 'latest' (always the newest version)",
        json_schema_extra={"pattern": f"^(?!latest$){ALIAS_PATTERN[1:]}"},
    ),
]
FilePath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=MAX_KEY_LEN,
        description="a file of the version, e.g. model.joblib",
        json_schema_extra={"pattern": ARTIFACT_KEY_PATTERN},
    ),
]
Text = Annotated[str, Field(max_length=6000, strict=True)]
MetaValue = Text | StrictInt | StrictFloat | StrictBool | None
MetaMap = Annotated[
    dict[MapKey, MetaValue], Field(max_length=1000, json_schema_extra=printable_keys)
]


class VersionMeta(Body):
    """The ``meta`` part of a registration upload: what the flavor returned, and lineage."""

    flavor: Annotated[str, Field(min_length=1, max_length=64)]
    flavor_info: dict[str, Any] = Field(default_factory=dict)
    signature: dict[str, Any] = Field(default_factory=dict)
    metrics: MetaMap | None = None
    params: MetaMap | None = None
    tags: MetaMap | None = None
    description: Annotated[str, Field(max_length=20_000)] = ""
    run_id: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    dataset_version_ids: Annotated[list[Id], Field(max_length=1000)] = Field(default_factory=list)


class AliasIn(Body):
    version: Annotated[int, Field(strict=True, ge=1, le=999_999_999), INTEGRAL]
    reason: Annotated[str, Field(max_length=1000)] | None = None


class VersionUpdate(Body):
    description: Annotated[str, Field(max_length=20_000)] | None = None
    tags: MetaMap | None = None


OCTET_STREAM = "application/octet-stream"
BINARY = {"schema": {"type": "string", "format": "binary"}}


UPLOAD_MARKER = {
    "name": UPLOAD_HEADER,
    "in": "header",
    "required": True,
    "description": "any value (mp.Client sends 1): a browser cannot send it cross-site unasked",
    "schema": {"type": "string", "minLength": 1},
}


def _upload_body() -> dict[str, Any]:
    """The OpenAPI request body of a registration: the ``meta`` part (JSON) and the files."""
    files = {
        "type": "array",
        "minItems": 1,
        "maxItems": len(UPLOAD_FILE_NAMES),
        "items": {"type": "string", "format": "binary"},
        "description": f"one part per file, named one of {', '.join(sorted(UPLOAD_FILE_NAMES))}",
    }
    schema = {
        "type": "object",
        "required": ["meta", "files"],
        "properties": {"meta": VersionMeta.model_json_schema(), "files": files},
        "additionalProperties": False,
    }
    encoding = {"meta": {"contentType": "application/json"}, "files": {"contentType": OCTET_STREAM}}
    return {
        "required": True,
        "content": {"multipart/form-data": {"schema": schema, "encoding": encoding}},
    }


def _invalid(loc: tuple[str | int, ...], message: str, kind: str = "value_error") -> Exception:
    return RequestValidationError([{"type": kind, "loc": ("body", *loc), "msg": message}])


# -- models and versions ------------------------------------------------------------------------


LifecycleQuery = Annotated[
    Lifecycle, Query(description=f"which ones: {', '.join(LIFECYCLES)} (default active)")
]
"""Which models or versions a listing returns (deleted ones: to find what to restore)."""


@routes.get("/models", summary="List registered models", dependencies=allow(Permission.VIEWER))
def list_models(ws: WorkspaceDep, lifecycle: LifecycleQuery = "active") -> Response:
    return json_response([m.to_dict() for m in ws.registry.list_models(lifecycle=lifecycle)])


@routes.get(
    "/models/resolve",
    summary="Resolve a models:/ URI to the version it names now",
    dependencies=allow(Permission.VIEWER),
    errors=(400, 404),
)
def resolve(
    uri: Annotated[
        str,
        Query(
            min_length=1,  # the pattern bounds the length (273 characters)
            description="models:/NAME/VERSION, models:/NAME@ALIAS or models:/NAME (latest)",
            json_schema_extra={"pattern": MODEL_URI_PATTERN},
        ),
    ],
    ws: WorkspaceDep,
    card: Annotated[bool, Query(description="include the model card")] = False,
) -> Response:
    return json_response(ws.registry.resolve(uri).to_dict(with_card=card))


@routes.get(
    "/models/{name}",
    summary="Get a model",
    dependencies=allow(Permission.VIEWER),
    errors=(400, 404),
)
def get_model(name: ModelName, ws: WorkspaceDep) -> Response:
    return json_response(ws.registry.get_model(name).to_dict())


@routes.get(
    "/models/{name}/versions",
    summary="List the versions of a model",
    dependencies=allow(Permission.VIEWER),
    errors=(400, 404),
)
def list_versions(
    name: ModelName, ws: WorkspaceDep, lifecycle: LifecycleQuery = "active"
) -> Response:
    versions = ws.registry.versions(name, lifecycle=lifecycle)
    return json_response([v.to_dict() for v in versions])


@routes.post(
    "/models/{name}/versions",
    summary="Register a new version by uploading a flavor's saved files",
    description="multipart/form-data: one part 'meta' (JSON: flavor, flavor_info, signature, "
    "metrics, params, tags, description, run_id, dataset_version_ids) and one file part 'files' "
    f"per file, named one of {', '.join(sorted(UPLOAD_FILE_NAMES))}. Nothing is unpickled.",
    status_code=201,
    dependencies=allow(Permission.OPERATOR),
    errors=(400, 404, 409, 413, 415),
    openapi_extra={"requestBody": _upload_body(), "parameters": [UPLOAD_MARKER]},
)
async def register_version(name: ModelName, request: Request, ws: WorkspaceDep) -> Response:
    check_name(name, "model name")
    check_multipart_upload(request.headers.get("content-type"), request.headers.get(UPLOAD_HEADER))
    limited = limited_request(request, max_upload_bytes(request))
    folder = LocalPath(tempfile.mkdtemp(prefix="mp-upload-"))
    try:
        async with limited.form(
            max_files=len(UPLOAD_FILE_NAMES), max_fields=1, max_part_size=META_LIMIT
        ) as form:
            meta_text: str | None = None
            uploads: dict[str, UploadFile] = {}
            for key, value in form.multi_items():
                if key == "meta" and isinstance(value, str) and meta_text is None:
                    meta_text = value
                elif key == "files" and isinstance(value, UploadFile):
                    filename = value.filename or ""
                    check_member_name(filename, field="files")  # traversal is named as such
                    if filename not in UPLOAD_FILE_NAMES:
                        raise InvalidInputError(
                            f"model file name {filename[:100]!r} is not allowed: use "
                            f"{', '.join(sorted(UPLOAD_FILE_NAMES))}",
                            field="files",
                        )
                    if filename in uploads:
                        raise InvalidInputError(f"file {filename!r} given twice", field="files")
                    uploads[filename] = value
                else:
                    raise _invalid((key,), "unexpected form part", "extra_forbidden")
            if meta_text is None:
                raise _invalid(("meta",), "Field required", "missing")
            try:
                meta = VersionMeta.model_validate_json(meta_text)
            except ValidationError as exc:
                first = exc.errors()[0]
                raise _invalid(("meta", *first["loc"]), first["msg"], first["type"]) from None
            _check_trust(request, meta.flavor, set(uploads))
            for filename, upload in uploads.items():
                await run_in_threadpool(_save_upload, upload, folder / filename)
        register = partial(
            ws.registry.register_files,
            name,
            meta.flavor,
            meta.flavor_info,
            meta.signature,
            folder,
            VersionFacts(
                meta.run_id,
                tuple(meta.dataset_version_ids),
                meta.metrics,
                meta.params,
                meta.tags,
                meta.description,
            ),
        )
        mv = await run_in_threadpool(register)
        return json_response(mv.to_dict(), 201)
    finally:
        await run_in_threadpool(shutil.rmtree, folder, True)


PICKLE_FILES = frozenset({"model.joblib", "model.pkl"})
PICKLE_FLAVORS = frozenset({"sklearn", "pyfunc"})


def _check_trust(request: Request, flavor: str, files: set[str]) -> None:
    """The model-trust policy: pickle-based payloads (loading them runs code) only when the
    server allows them (``--allow-pickle-models``; by default only on loopback). The route itself
    already needs operator."""
    pickled = sorted(files & PICKLE_FILES)
    if not pickled and flavor not in PICKLE_FLAVORS:
        return
    if request.app.state.server.settings.pickle_models_allowed:
        return
    what = ", ".join(pickled) or f"the {flavor} flavor"
    raise UnsupportedMediaError(
        f"this server does not accept pickle-based models ({what}): loading one runs code. "
        "Register ONNX, skops, XGBoost JSON or LightGBM text models, or start the server with "
        "--allow-pickle-models if every operator is trusted to run code on it",
        field="files",
    )


def _save_upload(upload: UploadFile, target: LocalPath) -> None:
    upload.file.seek(0)
    with open(target, "xb") as out:
        shutil.copyfileobj(upload.file, out, 1 << 20)


@routes.get(
    "/models/{name}/versions/{version}",
    summary="Get a model version",
    dependencies=allow(Permission.VIEWER),
    errors=(400, 404),
)
def get_version(
    name: ModelName,
    version: Version,
    ws: WorkspaceDep,
    card: Annotated[bool, Query(description="include the model card")] = False,
) -> Response:
    return json_response(ws.registry.get_version(name, version).to_dict(with_card=card))


@routes.patch(
    "/models/{name}/versions/{version}",
    summary="Update a version's description or tags",
    dependencies=allow(Permission.OPERATOR),
    max_body_size=JSON_BODY_LIMIT,
    errors=(400, 404, 409, 413, 415),
)
def update_version(
    name: ModelName, version: Version, body: VersionUpdate, ws: WorkspaceDep
) -> Response:
    mv = ws.registry.update_version(name, version, description=body.description, tags=body.tags)
    return json_response(mv.to_dict())


@routes.delete(
    "/models/{name}/versions/{version}",
    summary="Delete a model version (kept, restorable; refused while an alias points to it or "
    "an endpoint serves it)",
    status_code=204,
    dependencies=allow(Permission.ADMIN),
    errors=(400, 404, 409),
)
def delete_version(name: ModelName, version: Version, ws: WorkspaceDep) -> Response:
    ws.registry.delete_version(name, version)
    return Response(status_code=204)


@routes.post(
    "/models/{name}/versions/{version}/restore",
    summary="Restore a deleted model version",
    dependencies=allow(Permission.OPERATOR),
    errors=(400, 404),
)
def restore_version(name: ModelName, version: Version, ws: WorkspaceDep) -> Response:
    return json_response(ws.registry.restore_version(name, version).to_dict())


@routes.delete(
    "/models/{name}",
    summary="Delete a model with its versions (kept, restorable; refused while an alias or an "
    "endpoint uses any of them)",
    status_code=204,
    dependencies=allow(Permission.ADMIN),
    errors=(400, 404, 409),
)
def delete_model(name: ModelName, ws: WorkspaceDep) -> Response:
    ws.registry.delete_model(name)
    return Response(status_code=204)


@routes.post(
    "/models/{name}/restore",
    summary="Restore a deleted model with the versions deleted with it",
    dependencies=allow(Permission.OPERATOR),
    errors=(400, 404),
)
def restore_model(name: ModelName, ws: WorkspaceDep) -> Response:
    return json_response(ws.registry.restore_model(name).to_dict())


@routes.get(
    "/models/{name}/versions/{version}/files/{path:path}",
    summary="Download one of a version's files, verified against its recorded SHA-256",
    response_class=Response,
    responses={200: {"description": "the file's bytes", "content": {OCTET_STREAM: BINARY}}},
    dependencies=allow(Permission.VIEWER),
    errors=(400, 404, 409),
)
def download_file(name: ModelName, version: Version, path: FilePath, ws: WorkspaceDep) -> Response:
    check_artifact_key(path)
    mv = ws.registry.get_version(name, version)
    expected = mv.files.get(path)
    if expected is None:
        raise NotFoundError(f"{mv.uri} has no file {path[:100]!r}", field="path")
    data = ws.artifacts.get_bytes(f"{mv.artifact_key}/{path}", expected_sha256=expected)
    return Response(
        data,
        media_type="application/octet-stream",
        headers={"X-Checksum-SHA256": expected},
    )


# -- aliases ------------------------------------------------------------------------------------


@routes.get(
    "/models/{name}/aliases/{alias}",
    summary="Get the version an alias points to",
    dependencies=allow(Permission.VIEWER),
    errors=(400, 404),
)
def get_alias(name: ModelName, alias: Alias, ws: WorkspaceDep) -> Response:
    ref = ModelRef(check_name(name, "model name"), alias=check_alias(alias))
    return json_response(ws.registry.resolve(ref).to_dict())


@routes.put(
    "/models/{name}/aliases/{alias}",
    summary="Point an alias at a version",
    dependencies=allow(Permission.OPERATOR),
    max_body_size=JSON_BODY_LIMIT,
    errors=(400, 404, 409, 413, 415),
)
def set_alias(name: ModelName, alias: SettableAlias, body: AliasIn, ws: WorkspaceDep) -> Response:
    mv = ws.registry.set_alias(name, alias, body.version, reason=body.reason)
    return json_response(mv.to_dict())


@routes.delete(
    "/models/{name}/aliases/{alias}",
    summary="Delete an alias",
    status_code=204,
    dependencies=allow(Permission.OPERATOR),
    errors=(400, 404, 409),
)
def delete_alias(
    name: ModelName,
    alias: Alias,
    ws: WorkspaceDep,
    reason: Annotated[str | None, Query(max_length=1000)] = None,
) -> Response:
    ws.registry.delete_alias(name, alias, reason=reason)
    return Response(status_code=204)


@routes.get(
    "/models/{name}/alias-history",
    summary="The history of a model's aliases (optionally of one alias)",
    dependencies=allow(Permission.VIEWER),
    errors=(400, 404),
)
def alias_history(
    name: ModelName,
    ws: WorkspaceDep,
    alias: Annotated[
        str | None,
        Query(max_length=MAX_ALIAS_LEN, json_schema_extra={"pattern": ALIAS_PATTERN}),
    ] = None,
) -> Response:
    return json_response([c.to_dict() for c in ws.registry.alias_history(name, alias)])


class AliasRuleIn(Body):
    role: Annotated[str, Field(pattern="^(viewer|predictor|operator|admin)$")] = "admin"
    require_gate: StrictBool = False


@routes.get(
    "/models/{name}/alias-rules",
    summary="Who may move which alias of a model (its own rules and those for every model)",
    dependencies=allow(Permission.VIEWER),
    errors=(400, 404),
)
def alias_rules(name: ModelName, ws: WorkspaceDep) -> Response:
    return json_response([r.to_dict() for r in ws.registry.alias_rules.list(name)])


@routes.put(
    "/models/{name}/alias-rules/{alias}",
    summary="Protect an alias: only this role or higher may move it (optionally only to a "
    "version that passed the validation gate)",
    dependencies=allow(Permission.ADMIN),
    max_body_size=JSON_BODY_LIMIT,
    errors=(400, 404, 409, 413),
)
def protect_alias(name: ModelName, alias: Alias, body: AliasRuleIn, ws: WorkspaceDep) -> Response:
    check_name(name, "model name")
    rule = ws.registry.alias_rules.protect(
        name, alias, role=body.role, require_gate=body.require_gate
    )
    return json_response(rule.to_dict())


@routes.delete(
    "/models/{name}/alias-rules/{alias}",
    summary="Remove an alias's protection",
    status_code=204,
    dependencies=allow(Permission.ADMIN),
    errors=(400, 404),
)
def unprotect_alias(name: ModelName, alias: Alias, ws: WorkspaceDep) -> Response:
    check_name(name, "model name")
    ws.registry.alias_rules.unprotect(name, alias)
    return Response(status_code=204)
