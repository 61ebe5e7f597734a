"""Roles, ordered ``viewer < predictor < operator < admin``: what a caller may do.

The server decides a caller's role from their token; services below the server (the registry's
alias rules) compare roles too, so the order lives here, below both.
"""

from __future__ import annotations

import enum

from modelplane.errors import InvalidInputError


class Role(enum.IntEnum):
    VIEWER = 1
    PREDICTOR = 2
    OPERATOR = 3
    ADMIN = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: str, field: str = "role") -> Role:
        try:
            return cls[value.strip().upper()]
        except (KeyError, AttributeError):
            raise InvalidInputError(
                f"unknown role {str(value)[:40]!r}: use viewer, predictor, operator or admin",
                field=field,
            ) from None


__all__ = ["Role"]
