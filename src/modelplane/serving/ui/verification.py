"""The audit page's chain verification: run in the background, at most once per
:data:`MAX_AGE` seconds, and never holding a page longer than :data:`WAIT` seconds.

Verifying walks every entry of the log and checks its hash and MAC (about 30 µs an entry on
SQLite: a second per 35,000 entries), so a page view must not start it each time nor wait for
it on a big log. Each server process keeps the last result and when it was taken; a view finding
it older than :data:`MAX_AGE` starts a new one in a thread and shows the previous result (or,
the first time, waits up to :data:`WAIT` seconds for the new one, then shows "verifying").
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modelplane.audit.verify import VerifyResult
    from modelplane.context import Workspace

MAX_AGE = 60.0
"""Seconds a verification stays current."""
WAIT = 2.0
"""Seconds a page waits for a verification when there is no earlier one to show."""


@dataclass(frozen=True)
class Verification:
    result: VerifyResult | None
    error: str | None
    at: float  # epoch seconds
    seconds: float  # how long it took

    @property
    def time(self) -> str:
        return datetime.fromtimestamp(self.at, tz=UTC).isoformat(timespec="seconds")


class VerificationCache:
    """The last verification of the audit log, as seen by this process."""

    def __init__(self, max_age: float = MAX_AGE, wait: float = WAIT) -> None:
        self.max_age = max_age
        self.wait = wait
        self._last: Verification | None = None
        self._running: threading.Thread | None = None
        self._lock = threading.Lock()

    def get(self, ws: Workspace) -> Verification | None:
        """The latest verification (None: the first one is still running)."""
        last = self._last
        if last is not None and time.time() - last.at < self.max_age:
            return last
        with self._lock:
            running = self._running
            if running is None or not running.is_alive():
                running = self._running = threading.Thread(
                    target=self._verify, args=(ws,), name="audit-verify", daemon=True
                )
                running.start()
        if last is None:
            running.join(self.wait)
        return self._last

    def _verify(self, ws: Workspace) -> None:
        started = time.perf_counter()
        try:
            outcome: VerifyResult | None = ws.audit.verify()
            error = None
        except Exception as exc:  # an unreadable anchor, the store down: shown, not raised
            outcome, error = None, f"{type(exc).__name__}: {exc}"
        self._last = Verification(outcome, error, time.time(), time.perf_counter() - started)


__all__ = ["MAX_AGE", "WAIT", "Verification", "VerificationCache"]
