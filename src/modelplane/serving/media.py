"""What request bodies the server takes: media types, content encodings and JSON nesting.

* **Content-Encoding**: anything but ``identity`` is refused (415 naming ``content-encoding``) on
  every route: request bodies are never inflated, so a small compressed body cannot become a
  large one on the server (gzip bombs).
* **Content-Type**: a route that reads JSON takes ``application/json`` (or ``application/*+json``)
  and refuses the rest with 415 naming ``content-type`` — in particular the three types a
  browser may send cross-site without asking first (``text/plain``,
  ``application/x-www-form-urlencoded``, ``multipart/form-data``: "simple" requests, the tool of
  CSRF). The data plane also takes a body without Content-Type as JSON (curl ``--data-binary``
  with ``-H``, tritonclient, load generators send none); the Open Inference Protocol routes
  also take ``application/octet-stream`` (the binary tensor extension). Uploads take their
  formats (datasets: CSV or Parquet, neither a simple type); model files come as
  ``multipart/form-data``, a simple type, so that route also requires :data:`UPLOAD_HEADER`.
* **JSON depth**: documents nested deeper than :data:`MAX_JSON_DEPTH` levels are refused (400
  naming the top-level field they are under). Recursive code — pandas, pydantic, the standard
  library's JSON — must never meet a document hundreds of levels deep.
"""

from __future__ import annotations

from itertools import compress
from typing import Any

from modelplane.errors import InvalidInputError, UnsupportedMediaError

MAX_JSON_DEPTH = 64
"""Levels of nesting a JSON document may have (``{"a": [1]}`` has two)."""

JSON = b"application/json"
OCTET_STREAM = b"application/octet-stream"
SIMPLE_TYPES = (b"text/plain", b"application/x-www-form-urlencoded", b"multipart/form-data")
"""Content types a browser sends cross-site without a CORS preflight."""
UPLOAD_HEADER = "X-Modelplane-Upload"
"""The header a multipart upload must carry (mp.Client sends ``X-Modelplane-Upload: 1``)."""
_CONTAINER = frozenset({dict, list}).__contains__


def media_type(value: bytes) -> bytes:
    """The media type of a Content-Type value, lower case, without parameters."""
    return value.split(b";", 1)[0].strip().lower()


def is_json(media: bytes) -> bool:
    return media == JSON or (media.startswith(b"application/") and media.endswith(b"+json"))


def check_encoding(value: bytes) -> None:
    """Refuse an encoded body (415 naming ``content-encoding``)."""
    if value.strip().lower() not in (b"", b"identity"):
        raise UnsupportedMediaError(
            f"Content-Encoding {value[:40].decode('latin-1')!r} is not accepted: send the body "
            "uncompressed (request bodies are never inflated)",
            field="content-encoding",
        )


def refuse_media(value: bytes, accepted: str) -> UnsupportedMediaError:
    """The 415 for a Content-Type the route does not take."""
    media = media_type(value)[:80].decode("latin-1")
    why = " (a type browsers send cross-site unasked)" if media_type(value) in SIMPLE_TYPES else ""
    return UnsupportedMediaError(
        f"Content-Type {media!r} is not accepted{why}: send {accepted}", field="content-type"
    )


def check_data_type(value: bytes, binary: bool) -> None:
    """The Content-Type of a data-plane body: JSON, or (``binary``: the v2 routes) raw bytes."""
    if value == JSON:
        return
    media = media_type(value)
    if is_json(media) or (binary and media == OCTET_STREAM):
        return
    raise refuse_media(
        value, "application/json" + (" or application/octet-stream" if binary else "")
    )


def check_multipart_upload(content_type: str | None, marker: str | None) -> None:
    """A file upload as ``multipart/form-data``: the one "simple" type a route takes, so it must
    also carry :data:`UPLOAD_HEADER`, which no browser sends cross-site without a preflight."""
    value = (content_type or "").encode("latin-1")
    if media_type(value) != b"multipart/form-data":
        raise refuse_media(value, f"multipart/form-data (with the header {UPLOAD_HEADER}: 1)")
    if not marker:
        raise UnsupportedMediaError(
            f"a multipart/form-data upload needs the header {UPLOAD_HEADER} (any value; "
            "mp.Client sends it): a browser form cannot, so a page elsewhere cannot upload here",
            field=UPLOAD_HEADER.lower(),
        )


def check_depth(doc: Any, limit: int = MAX_JSON_DEPTH) -> None:
    """Refuse a parsed JSON document nested deeper than ``limit`` levels (400 naming the
    top-level field holding the nesting, or ``body``). Walks containers level by level with
    C-level iteration; scalars cost a type lookup each."""
    if type(doc) is dict:
        for key, value in doc.items():
            if _CONTAINER(type(value)) and _deeper(value, limit - 1):
                name = str(key)[:100]
                raise InvalidInputError(
                    f"{name!r} nests JSON deeper than {limit} levels", field=name, limit=limit
                )
    elif type(doc) is list and _deeper(doc, limit):
        raise InvalidInputError(
            f"the body nests JSON deeper than {limit} levels", field="body", limit=limit
        )


def _deeper(container: Any, limit: int) -> bool:
    """Whether ``container`` (a dict or list) has more than ``limit`` levels."""
    level = [container]
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        below: list[Any] = []
        for item in level:
            values = item.values() if type(item) is dict else item
            below.extend(compress(values, map(_CONTAINER, map(type, values))))
        level = below
    return False


def check_json_depth(body: bytes, doc: Any, limit: int = MAX_JSON_DEPTH) -> None:
    """Refuse ``doc`` (parsed from ``body``, so valid JSON) if it nests deeper than ``limit``.

    The depth is read from the body's bracket skeleton (:func:`nesting_exceeds`: one pass over
    the bytes in C, a fifth to a tenth of what parsing them costs); only when that cannot tell
    (a string holding a bracket or an escape), or to name the field, is the document walked."""
    if nesting_exceeds(body, limit) is not False:
        check_depth(doc, limit)


_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"\\')


def nesting_exceeds(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool | None:
    """Whether valid JSON ``body`` nests deeper than ``limit``, from its bytes: None when they
    cannot tell cheaply (a string holds a bracket or an escape).

    Everything but brackets, quotes and backslashes is deleted; a string without brackets is
    then ``""``. When every quote is in such a pair (the first string holding a bracket always
    leaves one out, which means "cannot tell"), the quotes go too and what remains is the
    containers alone; each round removes the innermost level, so a skeleton still standing
    after ``limit`` rounds is deeper.
    """
    skeleton = body.translate(None, _NOT_STRUCTURE)
    if b"\\" in skeleton:
        return None
    if skeleton.count(b'"') != 2 * skeleton.count(b'""'):  # (counting: cheaper than replacing)
        return None
    skeleton = skeleton.translate(None, b'"')
    for _ in range(limit):
        if not skeleton:
            return False
        skeleton = skeleton.replace(b"[]", b"!").replace(b"{}", b"!").replace(b"!", b"")
    return bool(skeleton)


__all__ = [
    "MAX_JSON_DEPTH",
    "SIMPLE_TYPES",
    "UPLOAD_HEADER",
    "check_data_type",
    "check_depth",
    "check_encoding",
    "check_json_depth",
    "check_multipart_upload",
    "is_json",
    "media_type",
    "nesting_exceeds",
    "refuse_media",
]
