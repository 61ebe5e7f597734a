"""Traffic policies: which variant of an endpoint answers a request.

A policy is compiled once per endpoint configuration (a name → class table, like every
extension point) and asked once per request; it must not do I/O. ``single`` sends everything to
its one variant. Policies that split traffic (canary, A/B, shadow) are added here as classes of
the same shape, and the request path does not change.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING

from modelplane.errors import InvalidInputError

if TYPE_CHECKING:
    from modelplane.inference.live import LiveVariant
    from modelplane.inference.request import InferenceRequest


class TrafficPolicy(ABC):
    def __init__(self, variants: Sequence[LiveVariant]) -> None:
        if not variants:
            raise InvalidInputError("a traffic policy needs at least one variant", field="traffic")
        self.variants = tuple(variants)

    @abstractmethod
    def choose(self, request: InferenceRequest) -> LiveVariant:
        """The variant that answers ``request``."""


class Single(TrafficPolicy):
    """One variant answers every request."""

    def choose(self, request: InferenceRequest) -> LiveVariant:
        return self.variants[0]


POLICIES: dict[str, type[TrafficPolicy]] = {"single": Single}


def compile_policy(name: str, variants: Sequence[LiveVariant]) -> TrafficPolicy:
    cls = POLICIES.get(name)
    if cls is None:
        raise InvalidInputError(
            f"unknown traffic policy {name!r}; known: {', '.join(POLICIES)}", field="traffic.policy"
        )
    return cls(variants)


__all__ = ["POLICIES", "Single", "TrafficPolicy", "compile_policy"]
