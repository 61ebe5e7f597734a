"""Model URIs (``models:/name/3``, ``models:/name@alias``, ``models:/name`` for the latest version)
and dataset URIs (``datasets:/name/1``, ``datasets:/name@latest``, ``datasets:/name``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from modelplane.core.names import MAX_ALIAS_LEN, MAX_NAME_LEN, NAME_PATTERN, check_alias, check_name
from modelplane.errors import InvalidInputError

_URI_RE = re.compile(r"models:/(?P<name>[^/@]+)(?:/(?P<version>[^/@]+)|@(?P<alias>[^/@]+))?")
MODEL_URI_PATTERN = (
    rf"^models:/(?![A-Za-z0-9._-]{{{MAX_NAME_LEN + 1}}}){NAME_PATTERN[1:-1]}"
    rf"(?:/(?!0+$)[0-9]{{1,9}}|@(?![vV][0-9]+$)[A-Za-z_][A-Za-z0-9_-]{{0,{MAX_ALIAS_LEN - 1}}})?$"
)
"""What :func:`parse_model_uri` accepts, as a JSON Schema pattern (for OpenAPI documents): a
name of at most 200 characters; a version of 1 to 9 digits, not all zeros; an alias (not a
version number such as ``v3``)."""


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


# -- datasets ------------------------------------------------------------------------------------

_DATASET_URI_RE = re.compile(
    r"datasets:/(?P<name>[^/@]+)(?:/(?P<version>[^/@]+)|@(?P<tag>[^/@]+))?"
)
DATASET_URI_PATTERN = (
    rf"^datasets:/(?![A-Za-z0-9._-]{{{MAX_NAME_LEN + 1}}}){NAME_PATTERN[1:-1]}"
    r"(?:/(?!0+$)[0-9]{1,9}|@latest)?$"
)
"""What :func:`parse_dataset_uri` accepts, as a JSON Schema pattern."""


@dataclass(frozen=True)
class DatasetRef:
    """A reference to a dataset version: ``version`` None means the newest."""

    name: str
    version: int | None = None

    def __str__(self) -> str:
        suffix = "" if self.version is None else f"/{self.version}"
        return f"datasets:/{self.name}{suffix}"


def is_dataset_uri(value: object) -> bool:
    return isinstance(value, str) and value.startswith("datasets:/")


def parse_dataset_uri(uri: object, field: str = "dataset") -> DatasetRef:
    """``datasets:/NAME/VERSION``, ``datasets:/NAME@latest`` or ``datasets:/NAME`` (the newest
    version); anything else is refused naming ``field``."""
    if not isinstance(uri, str):
        raise InvalidInputError(
            f"dataset URI must be a string, got {type(uri).__name__}", field=field
        )
    match = _DATASET_URI_RE.fullmatch(uri)
    if not match or (match["tag"] is not None and match["tag"] != "latest"):
        raise InvalidInputError(
            f"invalid dataset URI {uri[:120]!r}: expected datasets:/NAME/VERSION, "
            "datasets:/NAME@latest or datasets:/NAME",
            field=field,
        )
    name = check_name(match["name"], "dataset name")
    if match["version"] is None:
        return DatasetRef(name)
    text = match["version"]
    if not (text.isascii() and text.isdigit()) or len(text) > 9 or int(text) < 1:
        raise InvalidInputError(
            f"invalid dataset version {text[:20]!r} in {uri[:120]!r}: expected a positive integer",
            field=field,
        )
    return DatasetRef(name, int(text))


def dataset_ref(name_or_uri: object, version: int | None = None) -> DatasetRef:
    """A dataset named by a ``datasets:/`` URI, or by its name and an optional version."""
    if is_dataset_uri(name_or_uri):
        ref = parse_dataset_uri(name_or_uri)
        if version is not None and ref.version is not None and version != ref.version:
            raise InvalidInputError(
                f"{name_or_uri!s:.120} already names version {ref.version}; drop version=",
                field="version",
            )
        return ref if version is None else DatasetRef(ref.name, version)
    if isinstance(name_or_uri, str) and ":/" in name_or_uri:
        raise InvalidInputError(
            f"{name_or_uri[:120]!r} is not a dataset: give a name or a datasets:/NAME/VERSION URI",
            field="dataset",
        )
    name = check_name(name_or_uri, "dataset name")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise InvalidInputError(f"version must be an integer, got {version!r}", field="version")
    return DatasetRef(name, version)
