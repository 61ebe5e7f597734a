"""Validation of user-supplied names: model, experiment, dataset, alias, tag names and artifact keys.

Names end up in URLs, file paths, object-store keys and SQL; the rules here are strict on purpose
(an allow-list, not a deny-list), so traversal (``..``), absolute paths, encoded variants
(``%2e%2e``, ``%2f``), control characters and other surprises never get through.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata

from modelplane.errors import InvalidInputError

MAX_NAME_LEN = 200
MAX_KEY_LEN = 1024

# Entity names: letters, digits, and . _ - ; must start with a letter or digit.
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# Alias names: like entity names, but no dots (they appear after '@' in URIs); not all digits,
# and not a version number such as v3 (``@v3`` next to ``/3`` would be ambiguous).
_ALIAS_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_VERSIONISH_RE = re.compile(r"[vV][0-9]+")
# Run param, metric and tag keys (MLflow's rule): letters, digits, '_', '-', '.', '/', ':' and
# spaces; '/'-separated segments that are not empty, '.' or '..'.
_FIELD_KEY_RE = re.compile(r"[A-Za-z0-9_.\- /:]+")
# One component of an artifact key.
_COMPONENT_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+=-]*")

# The same rules as JSON Schema patterns, for the server's OpenAPI document (a test checks that
# they accept exactly what the functions below accept).
MAX_ALIAS_LEN = 64
NAME_PATTERN = r"^[A-Za-z0-9](?:\.?[A-Za-z0-9_-])*\.?$"
""":func:`check_name` (up to ``MAX_NAME_LEN`` characters): ``_NAME_RE`` without ``..``."""
ALIAS_PATTERN = r"^(?![vV][0-9]+$)[A-Za-z_][A-Za-z0-9_-]*$"
""":func:`check_alias` (up to ``MAX_ALIAS_LEN`` characters)."""
ARTIFACT_KEY_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9._+=-]*(?:/[A-Za-z0-9_][A-Za-z0-9._+=-]*)*$"
""":func:`check_artifact_key` (up to ``MAX_KEY_LEN`` characters)."""
MAX_FIELD_KEY_LEN = 250
FIELD_KEY_PATTERN = r"^(?!/)(?!.*/$)(?!.*//)(?!(?:.*/)?\.\.?(?:/|$))[A-Za-z0-9_. /:-]+$"
""":func:`check_field_key` (up to ``MAX_FIELD_KEY_LEN`` characters)."""


def check_name(value: object, kind: str = "name") -> str:
    """Return ``value`` if it is a valid entity name, else raise InvalidInputError naming ``kind``."""
    if not isinstance(value, str):
        raise InvalidInputError(f"{kind} must be a string, got {type(value).__name__}", field=kind)
    if not value:
        raise InvalidInputError(f"{kind} must not be empty", field=kind)
    if len(value) > MAX_NAME_LEN:
        raise InvalidInputError(
            f"{kind} is {len(value)} characters long; the limit is {MAX_NAME_LEN}", field=kind
        )
    if not _NAME_RE.fullmatch(value) or ".." in value:
        raise InvalidInputError(
            f"invalid {kind} {_show(value)}: use letters, digits, '.', '_' and '-', "
            "starting with a letter or digit (no '..', '/', spaces or control characters)",
            field=kind,
        )
    return value


def check_alias(value: object) -> str:
    if not isinstance(value, str) or not _ALIAS_RE.fullmatch(value) or len(value) > 64:
        raise InvalidInputError(
            f"invalid alias {_show(value)}: use letters, digits, '_' and '-', starting with a "
            "letter or '_' (at most 64 characters)",
            field="alias",
        )
    if _VERSIONISH_RE.fullmatch(value):
        raise InvalidInputError(
            f"invalid alias {_show(value)}: it reads as a version number; name versions as "
            f"models:/NAME/{value[1:]} and give aliases a word (e.g. champion)",
            field="alias",
        )
    return value


def check_field_key(value: object, kind: str = "key") -> str:
    """A run's param, metric or tag key, as MLflow allows them: letters, digits, ``_ - . / :``
    and spaces, at most 250 characters, no empty, ``.`` or ``..`` segment between slashes."""
    value = check_key(value, kind, MAX_FIELD_KEY_LEN)
    if not _FIELD_KEY_RE.fullmatch(value):
        raise InvalidInputError(
            f"invalid {kind} {_show(value)}: use letters, digits, '_', '-', '.', '/', ':' and "
            "spaces",
            field=kind,
        )
    parts = value.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise InvalidInputError(
            f"invalid {kind} {_show(value)}: no leading, trailing or doubled '/', and no '.' "
            "or '..' segments",
            field=kind,
        )
    return value


def check_key(value: object, kind: str = "key", limit: int = 250) -> str:
    """Param, metric and tag keys: printable, no control characters, bounded length."""
    if not isinstance(value, str) or not value:
        raise InvalidInputError(f"{kind} must be a non-empty string", field=kind)
    if len(value) > limit:
        raise InvalidInputError(
            f"{kind} {_show(value[:40])}… is {len(value)} characters; the limit is {limit}",
            field=kind,
        )
    if any(unicodedata.category(ch).startswith("C") for ch in value):
        raise InvalidInputError(f"{kind} {_show(value)} contains control characters", field=kind)
    return value


def check_artifact_key(value: object) -> str:
    """A relative key inside the artifact store: ``a/b/c.ext`` made of safe components only.

    Rejects absolute paths, ``..`` and ``.`` components, empty components, backslashes,
    percent-encoding, URL schemes, NUL and any character outside the allow-list.
    """
    if not isinstance(value, str) or not value:
        raise InvalidInputError("artifact name must be a non-empty string", field="artifact")
    if len(value) > MAX_KEY_LEN:
        raise InvalidInputError(
            f"artifact name is {len(value)} characters; the limit is {MAX_KEY_LEN}",
            field="artifact",
        )
    reason = None
    if value.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", value):
        reason = "absolute paths are not allowed"
    elif "\\" in value:
        reason = "backslashes are not allowed"
    elif "%" in value:
        reason = "percent-encoded characters are not allowed"
    elif "://" in value:
        reason = "URLs are not allowed"
    else:
        for part in value.split("/"):
            if part in ("", ".", ".."):
                reason = "empty, '.' and '..' path components are not allowed"
                break
            if not _COMPONENT_RE.fullmatch(part):
                reason = f"component {_show(part)} has characters outside [A-Za-z0-9._+=-]"
                break
    if reason:
        raise InvalidInputError(f"invalid artifact name {_show(value)}: {reason}", field="artifact")
    return value


@functools.cache
def printable_pattern() -> str:
    """:func:`check_key`'s rule as a JSON Schema pattern: no character of Unicode category C
    (control, format, private use, unassigned; surrogates are no characters of a JSON string)
    as this Python's Unicode database has them. Computed once, when first asked for.

    Spelled as "no character of this class" (a negative lookahead) rather than "only
    characters of its complement": test generators then draw from any text and filter,
    instead of enumerating the 140,000 characters the complement holds."""
    parts = [
        _class_char(first) if first == last else f"{_class_char(first)}-{_class_char(last)}"
        for first, last in _other_runs()
    ]
    return rf"^(?:(?![{''.join(parts)}])[\s\S])*$"


_SURROGATES = range(0xD800, 0xE000)
_SPACE = re.compile(r"\s")


def _other_runs() -> list[list[int]]:
    """The runs ``[first, last]`` of code points of category C (surrogates aside), found a block
    at a time: a block of printable characters holds none; one without printable characters
    and without white space (category Z is white space) holds nothing else."""
    category = unicodedata.category
    runs: list[list[int]] = []

    def add(first: int, last: int) -> None:
        if runs and runs[-1][1] == first - 1:
            runs[-1][1] = last
        else:
            runs.append([first, last])

    step = 4096
    for base in range(0, sys.maxunicode + 1, step):
        block = "".join(map(chr, range(base, base + step)))
        if block.isprintable():
            continue
        mixed = base < _SURROGATES.stop and _SURROGATES.start < base + step
        if not mixed and not any(map(str.isprintable, block)) and not _SPACE.search(block):
            add(base, base + step - 1)
            continue
        for cp, ch in enumerate(block, base):
            if category(ch)[0] == "C" and cp not in _SURROGATES:
                add(cp, cp)
    return runs


def _class_char(cp: int) -> str:
    # BMP characters as \uXXXX (every engine reads it); others as themselves (JSON Schema
    # patterns are Unicode-aware, and none of those is special inside a class).
    return f"\\u{cp:04x}" if cp <= 0xFFFF else chr(cp)


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
