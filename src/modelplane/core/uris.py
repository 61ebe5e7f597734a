"""Model URIs: ``models:/name/3``, ``models:/name@alias`` and ``models:/name`` (latest version)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from modelplane.core.names import MAX_ALIAS_LEN, MAX_NAME_LEN, NAME_PATTERN, check_alias, check_name
from modelplane.errors import InvalidInputError

_URI_RE = re.compile(r"models:/(?P<name>[^/@]+)(?:/(?P<version>[^/@]+)|@(?P<alias>[^/@]+))?")
MODEL_URI_PATTERN = (
    rf"^models:/(?![A-Za-z0-9._-]{{{MAX_NAME_LEN + 1}}}){NAME_PATTERN[1:-1]}"
    rf"(?:/(?!0+$)[0-9]{{1,9}}|@[A-Za-z_][A-Za-z0-9_-]{{0,{MAX_ALIAS_LEN - 1}}})?$"
)
"""What :func:`parse_model_uri` accepts, as a JSON Schema pattern (for OpenAPI documents): a
name of at most 200 characters; a version of 1 to 9 digits, not all zeros; an alias."""


@dataclass(frozen=True)
class ModelRef:
    """A reference to a model version: exactly one of ``version`` / ``alias``, or neither (latest)."""

    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"models:/{self.name}/{self.version}"
        if self.alias is not None:
            return f"models:/{self.name}@{self.alias}"
        return f"models:/{self.name}"


def is_model_uri(value: str) -> bool:
    return value.startswith("models:/")


def parse_model_uri(uri: object) -> ModelRef:
    """Parse a ``models:/`` URI; any other scheme (``file://``, ``s3://``, ``http://``) is refused."""
    if not isinstance(uri, str):
        raise InvalidInputError(
            f"model URI must be a string, got {type(uri).__name__}", field="model_uri"
        )
    match = _URI_RE.fullmatch(uri)
    if not match:
        raise InvalidInputError(
            f"invalid model URI {uri[:120]!r}: expected models:/NAME/VERSION, models:/NAME@ALIAS "
            "or models:/NAME",
            field="model_uri",
        )
    name = check_name(match["name"], "model name")
    version: int | None = None
    if match["version"] is not None:
        text = match["version"]
        if not (text.isascii() and text.isdigit()) or len(text) > 9 or int(text) < 1:
            raise InvalidInputError(
                f"invalid model version {text[:20]!r} in {uri[:120]!r}: expected a positive integer",
                field="model_uri",
            )
        version = int(text)
    alias = check_alias(match["alias"]) if match["alias"] is not None else None
    return ModelRef(name=name, version=version, alias=alias)
