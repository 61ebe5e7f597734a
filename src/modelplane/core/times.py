"""Printing times: epoch milliseconds as ISO 8601 in UTC (``2024-05-01T12:00:00Z``)."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_z(ms: int | None) -> str | None:
    """Epoch milliseconds → ``2024-05-01T12:00:00Z`` (whole seconds, UTC); ``None`` stays."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def short_hash(digest: str, keep: int = 12) -> str:
    """The first ``keep`` characters of a hex digest, with ``…`` when cut."""
    return digest if len(digest) <= keep else digest[:keep] + "…"


__all__ = ["iso_z", "short_hash"]
