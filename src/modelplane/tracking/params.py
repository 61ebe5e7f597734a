"""Run params with their type: how a value is stored and read back.

A param is stored three ways at once (``run_params``): its text form as MLflow writes it
(``str(value)``; JSON for a dict or a list) — what string comparisons in filters see, e.g.
``params.C = '1.0'`` —, its JSON when it is not a string (so ``1``, ``0.5``, ``True``, ``None`` and
``{"depth": 3}`` come back as themselves), and its number when it is an int or a float (so
``params.C > 0.5`` compares numbers).
"""

from __future__ import annotations

import json
import math
import numbers
import re
from dataclasses import dataclass
from typing import Any

from modelplane.errors import InvalidInputError

MAX_PARAM_VALUE = 6000
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class StoredParam:
    text: str
    value_json: str | None
    num: float | None


def _plain(value: Any) -> Any:
    """numpy scalars (anything numeric with ``item()``) as the Python scalar they hold."""
    if isinstance(value, numbers.Number) and not isinstance(value, (bool, int, float)):
        item = getattr(value, "item", None)
        if callable(item):
            return item()
    if type(value).__name__ == "bool_" and hasattr(value, "item"):  # numpy.bool_
        return value.item()
    return value


def encode_param(key: str, value: Any) -> StoredParam:
    """The stored forms of one param value; too long a value is refused naming the param."""
    value = _plain(value)
    if isinstance(value, str):
        stored = StoredParam(value, None, text_number(value))
    elif value is None or isinstance(value, bool):
        stored = StoredParam(str(value), json.dumps(value), None)
    elif isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            stored = StoredParam(str(value), None, None)  # NaN and infinities are no JSON
        else:
            stored = StoredParam(str(value), json.dumps(value), float(value))
    elif isinstance(value, (dict, list, tuple)):
        try:
            text = json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(", ", ": "))
        except (TypeError, ValueError, RecursionError) as exc:
            raise InvalidInputError(
                f"param {key!r} must hold JSON values (strings, numbers, booleans, null, lists "
                f"and objects with string keys): {exc}",
                field=f"params.{key}",
            ) from None
        stored = StoredParam(text, text, None)
    else:
        stored = StoredParam(str(value), None, None)
    longest = max(len(stored.text), len(stored.value_json or ""))
    if longest > MAX_PARAM_VALUE:
        raise InvalidInputError(
            f"param {key!r} is {longest} characters; the limit is {MAX_PARAM_VALUE}",
            field=f"params.{key}",
        )
    return stored


def text_number(text: str) -> float | None:
    """The number a string param spells (``"0.5"``, ``"1e-3"``), for numeric filters; None for
    any other text."""
    if len(text) > 400 or not _NUMBER.fullmatch(text):
        return None
    number = float(text)
    return number if math.isfinite(number) else None


def decode_param(text: str, value_json: str | None) -> Any:
    return text if value_json is None else json.loads(value_json)


def wire_param(key: str, value: Any) -> Any:
    """``value`` as the JSON a client sends for it: what :func:`encode_param` would store, with
    its type (an object that is no JSON value is sent as its text, as it would be stored)."""
    stored = encode_param(key, value)
    if stored.value_json is None:
        return stored.text
    return json.loads(stored.value_json)
