"""A circuit breaker per model version: after ``failure_threshold`` consecutive failures the
model is skipped (the fallback answers) for ``reset_after_s``; then one trial call decides."""

from __future__ import annotations

import time


class CircuitBreaker:
    CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"

    def __init__(self, failure_threshold: int = 5, reset_after_s: float = 10.0) -> None:
        self.failure_threshold = failure_threshold
        self.reset_after_s = reset_after_s
        self.failures = 0
        self.opened_at: float | None = None
        self._trial = False

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return self.CLOSED
        if time.monotonic() - self.opened_at >= self.reset_after_s:
            return self.HALF_OPEN
        return self.OPEN

    def allow(self) -> bool:
        """May a call go to the model now? In half-open state only one trial at a time."""
        state = self.state
        if state == self.CLOSED:
            return True
        if state == self.HALF_OPEN and not self._trial:
            self._trial = True
            return True
        return False

    def success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self._trial = False

    def failure(self) -> None:
        self.failures += 1
        self._trial = False
        if self.failures >= self.failure_threshold:
            self.opened_at = time.monotonic()
