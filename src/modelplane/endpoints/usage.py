"""Which deployed endpoints name a model: what the registry asks before deleting a version
(the workspace hands it :func:`model_users`, since endpoints sit above the registry)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelplane.core.uris import is_model_uri, parse_model_uri
from modelplane.errors import InvalidInputError
from modelplane.stores.metadata.schema import endpoints


def _model_uris(document: Any) -> Iterator[str]:
    """Every ``models:/`` string of a stored config (variants, graph models, fallback, shadow)."""
    if isinstance(document, str):
        if is_model_uri(document):
            yield document
    elif isinstance(document, dict):
        for value in document.values():
            yield from _model_uris(value)
    elif isinstance(document, list):
        for value in document:
            yield from _model_uris(value)


def model_users(conn: Connection, name: str) -> list[tuple[str, str]]:
    """``(endpoint, model URI)`` for every URI of a deployed endpoint that names model ``name``."""
    found: list[tuple[str, str]] = []
    for endpoint, config in conn.execute(
        sa.select(endpoints.c.name, endpoints.c.config).order_by(endpoints.c.name)
    ):
        for uri in dict.fromkeys(_model_uris(config)):
            try:
                ref = parse_model_uri(uri)
            except InvalidInputError:
                continue
            if ref.name == name:
                found.append((endpoint, uri))
    return found
