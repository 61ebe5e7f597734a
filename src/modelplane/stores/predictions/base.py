"""The prediction log's contract, the frames it reads back, and the choice of backend.

A backend stores one row per answered request: the prefix and first counter of its prediction
ids (ids are ``prefix-hex(counter)``, consecutive within a request; see inference/ids.py), their
number, the time, endpoint, variant, model and version, the latency and the request's document
(:mod:`.codec`). :meth:`PredictionLog.append` returns only when the rows are as durable as the
backend promises (its docstring says how); the server answers only after that.

Reading gives pandas frames with one row per prediction id (:data:`META_COLUMNS`, then the input
columns by name, an input whose name clashes with a meta column prefixed ``input.``), in bounded
chunks (:meth:`PredictionLog.frames`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from modelplane.errors import InvalidInputError
from modelplane.stores.predictions.codec import LoggedPrediction, array

if TYPE_CHECKING:
    from modelplane.config import Settings
    from modelplane.stores.metadata.store import MetadataStore

LOG_MODES = ("auto", "segments", "database", "off")

META_COLUMNS = (
    "prediction_id",
    "time",
    "endpoint",
    "variant",
    "model",
    "version",
    "latency",
    "caller",
    "fallback",
    "prediction",
    "probabilities",
    "classes",
)


def split_id(prediction_id: str) -> tuple[str, int] | None:
    """``prefix-hexcounter`` → (prefix, counter); None when it is not shaped like an id."""
    prefix, sep, counter = prediction_id.rpartition("-")
    if not sep or not prefix or not counter or len(prediction_id) > 64 or len(counter) > 15:
        return None
    try:
        seq = int(counter, 16)
    except ValueError:
        return None
    if not all(c in "0123456789abcdef" for c in prefix):
        return None
    return prefix, seq


@dataclass(frozen=True, slots=True)
class StoredRequest:
    """One stored row: the predictions answered for one request."""

    prefix: str
    seq: int
    n: int
    ts: int  # epoch milliseconds
    endpoint: str
    variant: str
    model: str
    version: str
    latency: float
    doc: dict[str, Any]

    def ids(self) -> list[str]:
        p = self.prefix + "-"
        return [p + format(i, "x") for i in range(self.seq, self.seq + self.n)]


@dataclass(frozen=True)
class PruneResult:
    removed_requests: int
    removed_bytes: int
    remaining_bytes: int


class PredictionLog(ABC):
    """Where answered predictions are kept. Thread-safe for one writer thread and any readers."""

    name = "prediction-log"

    @abstractmethod
    def append(self, records: Sequence[LoggedPrediction]) -> None:
        """Store ``records``; return only once they are as durable as the backend promises."""

    @abstractmethod
    def requests(
        self,
        *,
        endpoint: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> Iterator[StoredRequest]:
        """Stored requests with ``since <= time < until`` (epoch seconds), oldest first within
        one writer (across writers the order is by time only roughly)."""

    @abstractmethod
    def find(self, prediction_ids: Sequence[str]) -> dict[str, str]:
        """The endpoint of each id that is in the log (unknown ids are absent)."""

    @abstractmethod
    def prune(
        self, *, max_age: float | None, max_bytes: int | None, now: float | None = None
    ) -> PruneResult:
        """Drop what is older than ``max_age`` seconds, then the oldest until at most
        ``max_bytes`` remain (whole segments at a time on the embedded backend)."""

    @abstractmethod
    def size_bytes(self) -> int:
        """Bytes the log takes."""

    def close(self) -> None:  # noqa: B027 - optional
        """Release files and connections."""

    # -- reading as frames --------------------------------------------------------------------

    def frames(
        self,
        *,
        endpoint: str | None = None,
        since: float | None = None,
        until: float | None = None,
        chunk_rows: int = 100_000,
    ) -> Iterator[pd.DataFrame]:
        """The predictions as frames of about ``chunk_rows`` rows (one row per prediction id)."""
        chunk: list[StoredRequest] = []
        rows = 0
        for req in self.requests(endpoint=endpoint, since=since, until=until):
            chunk.append(req)
            rows += req.n
            if rows >= chunk_rows:
                yield requests_frame(chunk)
                chunk, rows = [], 0
        if chunk:
            yield requests_frame(chunk)

    def read(
        self,
        *,
        endpoint: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> pd.DataFrame:
        """All matching predictions in one frame, ordered by time."""
        parts = list(self.frames(endpoint=endpoint, since=since, until=until))
        if not parts:
            return empty_frame()
        frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        return frame.sort_values("time", kind="stable", ignore_index=True)


def empty_frame() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in META_COLUMNS})
    frame["time"] = pd.Series(dtype="datetime64[ms, UTC]")
    frame["latency"] = pd.Series(dtype=float)
    return frame


def _rows(values: np.ndarray, n: int) -> Any:
    """A per-row column from a stored array: 1-D as is, 2-D as one list per row."""
    if values.ndim <= 1:
        return values if len(values) == n else [None] * n
    return list(values.tolist())


def requests_frame(requests: Sequence[StoredRequest]) -> pd.DataFrame:
    """One row per prediction id of ``requests``."""
    if not requests:
        return empty_frame()
    total = sum(r.n for r in requests)
    ids: list[str] = []
    meta: dict[str, list[Any]] = {k: [] for k in ("endpoint", "variant", "model", "version")}
    ts = np.empty(total, dtype=np.int64)
    latency = np.empty(total, dtype=np.float64)
    caller: list[Any] = []
    fallback = np.zeros(total, dtype=bool)
    prediction: list[Any] = []
    probabilities: list[Any] = []
    classes: list[Any] = []
    inputs: dict[str, list[tuple[int, Any]]] = {}
    at = 0
    for r in requests:
        n = r.n
        ids.extend(r.ids())
        for key, values in meta.items():
            values.extend([getattr(r, key)] * n)
        ts[at : at + n] = r.ts
        latency[at : at + n] = r.latency
        doc = r.doc
        caller.extend([doc.get("caller")] * n)
        if doc.get("fallback"):
            fallback[at : at + n] = True
        prediction.extend(_as_list(_rows(array(doc["outputs"]), n)))
        proba = doc.get("probabilities")
        probabilities.extend([None] * n if proba is None else _as_list(_rows(array(proba), n)))
        classes.extend([doc.get("classes")] * n)
        for name, cell in doc.get("inputs", {}).items():
            inputs.setdefault(name, []).append((at, array(cell)))
        at += n
    frame: dict[str, Any] = {
        "prediction_id": ids,
        "time": pd.to_datetime(ts, unit="ms", utc=True),
        **meta,
        "latency": latency,
        "caller": caller,
        "fallback": fallback,
        "prediction": _column(prediction),
        "probabilities": probabilities,
        "classes": classes,
    }
    for name, pieces in inputs.items():
        key = f"input.{name}" if name in frame else name
        frame[key] = _assemble(pieces, total)
    return pd.DataFrame(frame)


def _as_list(values: Any) -> list[Any]:
    return values.tolist() if isinstance(values, np.ndarray) else list(values)


def _column(values: list[Any]) -> Any:
    """Numbers as a numeric array (integers stay integers), anything else as objects."""
    if values and all(type(v) is int for v in values):
        return np.asarray(values, dtype=np.int64)
    if values and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=float)
    return pd.Series(values, dtype=object)


def _assemble(pieces: list[tuple[int, Any]], total: int) -> Any:
    """One input column from per-request arrays placed at their offsets (gaps: missing)."""
    numeric = all(np.asarray(a).dtype.kind in "biuf" for _, a in pieces)
    if numeric:
        out = np.full(total, np.nan)
        for at, a in pieces:
            out[at : at + len(a)] = a
        covered = sum(len(a) for _, a in pieces)
        if covered == total and all(np.asarray(a).dtype.kind in "biu" for _, a in pieces):
            return out.astype(np.int64)
        return out
    obj: list[Any] = [None] * total
    for at, a in pieces:
        obj[at : at + len(a)] = list(np.asarray(a, dtype=object))
    return obj


def open_prediction_log(
    settings: Settings,
    store: MetadataStore | None = None,
    *,
    hasher: Callable[[], Callable[[object], str]] | None = None,
) -> PredictionLog | None:
    """The log ``settings.prediction_log`` asks for (None when it is ``off``): ``auto`` keeps it
    in segment files under the home with SQLite metadata, and in the metadata database with
    PostgreSQL (so every replica writes to one place)."""
    mode = settings.prediction_log
    if mode == "off":
        return None
    if mode == "auto":
        mode = "database" if settings.db_url.startswith("postgresql") else "segments"
    if mode == "database":
        if not settings.db_url.startswith("postgresql"):
            raise InvalidInputError(
                "MODELPLANE_PREDICTION_LOG=database needs a PostgreSQL MODELPLANE_DB_URL "
                "(SQLite: use segments)",
                field="prediction_log",
            )
        if store is None:
            from modelplane.stores.metadata.store import MetadataStore

            store = MetadataStore(settings.db_url)
        from modelplane.stores.predictions.database import DatabaseLog

        return DatabaseLog(store, hasher=hasher)
    from modelplane.stores.predictions.segments import SegmentLog

    return SegmentLog(
        settings.home / "predictions", fsync_interval=settings.log_fsync_interval, hasher=hasher
    )


__all__ = [
    "LOG_MODES",
    "META_COLUMNS",
    "LoggedPrediction",
    "PredictionLog",
    "PruneResult",
    "StoredRequest",
    "empty_frame",
    "open_prediction_log",
    "requests_frame",
    "split_id",
]
