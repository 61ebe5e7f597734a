"""Feedback over HTTP: ``POST /v1/endpoints/{endpoint}/feedback`` (a fixed route of the spec).

One ``{"prediction_id", "label"}`` or a list of them. A 2xx answer means the labels are stored
(committed). One item: 200 with its status, 404 naming an unknown id, 400 for an id another
endpoint answered. A list: 200 with a status per item, every unknown id named (nothing is
dropped silently). Idempotent: the same label again is ``unchanged``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi.responses import Response
from pydantic import Field, PlainValidator, WithJsonSchema

from modelplane.errors import InvalidInputError, NotFoundError
from modelplane.monitoring.feedback import MAX_ITEMS, MAX_LABEL_INT, MAX_LABEL_TEXT, check_label
from modelplane.serving.api.common import Body, Routes, WorkspaceDep, allow, json_response
from modelplane.serving.data_schema import EndpointPath
from modelplane.serving.permissions import Permission

routes = Routes("monitoring")

PredictionId = Annotated[
    str, Field(min_length=3, max_length=64, pattern=r"^[0-9a-f]{1,32}-[0-9a-f]{1,15}$")
]


def _label(value: Any) -> Any:
    try:
        return check_label(value, "label")
    except InvalidInputError as exc:
        raise ValueError(str(exc).removeprefix("label: ")) from None


# text, a finite number or true/false; checked by check_label (one rule for HTTP, CLI and SDK)
Label = Annotated[
    Any,
    PlainValidator(_label),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "minLength": 1, "maxLength": MAX_LABEL_TEXT},
                {"type": "boolean"},
                {"type": "integer", "minimum": -MAX_LABEL_INT, "maximum": MAX_LABEL_INT},
                {"type": "number"},
            ]
        }
    ),
]


class FeedbackItem(Body):
    prediction_id: PredictionId
    label: Label


FEEDBACK_BODY_LIMIT = 4 * 1024 * 1024


@routes.post(
    "/v1/endpoints/{endpoint}/feedback",
    summary="Store labels of answered predictions (one item or a list; idempotent)",
    dependencies=allow(Permission.PREDICTOR),
    max_body_size=FEEDBACK_BODY_LIMIT,
    errors=(400, 404, 413, 415),
)
def feedback(
    endpoint: EndpointPath,
    body: FeedbackItem | Annotated[list[FeedbackItem], Field(min_length=1, max_length=MAX_ITEMS)],
    ws: WorkspaceDep,
) -> Response:
    single = isinstance(body, FeedbackItem)
    items: list[FeedbackItem] = [body] if isinstance(body, FeedbackItem) else list(body)
    result = ws.feedback.record(
        endpoint, [{"prediction_id": i.prediction_id, "label": i.label} for i in items]
    )
    if not single:
        return json_response(result.to_dict())
    entry = result.items[0]
    if entry["status"] == "error":
        if entry.get("code") == "unknown":
            raise NotFoundError(entry["error"])
        raise InvalidInputError(entry["error"], field="prediction_id")
    return json_response({"prediction_id": entry["prediction_id"], "status": entry["status"]})


__all__ = ["routes"]
