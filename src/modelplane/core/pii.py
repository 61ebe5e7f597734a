"""Pseudonymising personal data: a keyed hash of values from columns marked PII.

:func:`pii_hasher` returns ``value -> HMAC-SHA256(salt, canonical(value))`` as hex. The salt is the
server secret ``pii_salt`` (:class:`~modelplane.core.secrets.Secrets`: a file in the secrets
folder, mode 0600, created on first use, or ``MODELPLANE_SECRET_PII_SALT``), never in the
database, so someone who can read the database (or a prediction log) cannot confirm a guess of a
value by hashing it. Replicas that must produce the same hashes share the salt.

The canonical form makes one value hash the same however it arrived (a JSON number or a
string, a numpy scalar or a Python one): text is NFC-normalised; integers and integral floats are
written as decimal digits, other floats in their shortest round-trip form; booleans as ``true``
and ``false``; dates and times in ISO 8601; bytes as hex. ``None``, NaN and pandas' missing
values hash as null, distinct from any text.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import unicodedata
from collections.abc import Callable
from datetime import date, datetime, time

from modelplane.core.secrets import Secrets

SALT_NAME = "pii_salt"
_NULL = b"\x00null"  # no text canonicalises to this (text is prefixed with b"s:")


def canonical(value: object) -> bytes:
    """The bytes hashed for ``value`` (see the module docstring)."""
    item = getattr(value, "item", None)
    if callable(item) and type(value).__module__ == "numpy":
        value = item()  # numpy scalar → Python scalar
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return _NULL
    if type(value).__name__ in ("NAType", "NaTType"):  # pandas' missing values
        return _NULL
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        text = str(int(value)) if value.is_integer() else repr(value)
    elif isinstance(value, (datetime, date, time)):
        text = value.isoformat()
    elif isinstance(value, (bytes, bytearray, memoryview)):
        text = bytes(value).hex()
    else:
        isoformat = getattr(value, "isoformat", None)  # pandas Timestamp and the like
        text = str(isoformat()) if callable(isoformat) else str(value)
    return b"s:" + unicodedata.normalize("NFC", text).encode("utf-8")


def pii_hasher(secrets: Secrets) -> Callable[[object], str]:
    """A function hashing one value with the installation's PII salt (created if missing)."""
    salt, _ = secrets.get_or_create(SALT_NAME)

    def hash_value(value: object) -> str:
        return hmac.new(salt, canonical(value), hashlib.sha256).hexdigest()

    return hash_value


__all__ = ["SALT_NAME", "canonical", "pii_hasher"]
