"""``log export``: the prediction log of one endpoint, labels joined, to Parquet or CSV.

One row per prediction id: the log's columns (see :mod:`modelplane.stores.predictions.base`)
plus ``label`` and ``labelled_at``. Written chunk by chunk (bounded memory) to a temporary file
beside the target, then renamed over it, so a reader never sees half a file. In CSV, list
columns (probabilities, classes) are JSON text and times ISO 8601.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from modelplane.config import parse_age
from modelplane.errors import InvalidInputError
from modelplane.monitoring.joined import labelled_frames

if TYPE_CHECKING:
    from modelplane.monitoring.feedback import FeedbackService
    from modelplane.stores.predictions import PredictionLog

FORMATS = (".parquet", ".csv")


@dataclass(frozen=True)
class ExportSummary:
    endpoint: str
    rows: int
    labelled: int
    output: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "rows": self.rows,
            "labelled": self.labelled,
            "output": self.output,
            "seconds": round(self.seconds, 3),
        }


def parse_time(value: str | float | None, field: str, now: float | None = None) -> float | None:
    """Epoch seconds from ISO 8601 (``2026-12-01``, ``2026-12-01T10:00:00Z``; naive is UTC), a
    duration back from now (``15m``, ``24h``, ``7d``), or epoch seconds."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = value.strip()
    if text and text[-1] in "smhd" and text[:-1].replace(".", "", 1).isdigit():
        seconds = parse_age(text, field)
        assert seconds is not None
        return (time.time() if now is None else now) - seconds
    try:
        return float(text)
    except ValueError:
        pass
    try:
        stamp = pd.Timestamp(text)
    except (ValueError, TypeError):
        stamp = None
    if stamp is None or stamp is pd.NaT:
        raise InvalidInputError(
            f"{field} must be an ISO 8601 time (2026-12-01T10:00:00Z) or a duration back from "
            f"now (15m, 24h, 7d), got {value!r}",
            field=field,
        )
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return float(stamp.timestamp())


def _json_cell(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "tolist"):
        value = value.tolist()
    return json.dumps(value, allow_nan=False, default=str)


def _for_csv(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in ("probabilities", "classes"):
        out[col] = [_json_cell(v) for v in out[col]]
    for col in ("time", "labelled_at"):
        out[col] = out[col].map(lambda t: None if pd.isna(t) else t.isoformat())
    return out


def _for_parquet(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns mixing kinds (a label that is text here, a number there) as text."""
    out = frame
    for col in frame.columns:
        if frame[col].dtype != object or col in ("probabilities", "classes"):
            continue
        kinds = {type(v) for v in frame[col] if v is not None and not _is_nan(v)}
        if len(kinds) > 1 and not kinds <= {int, float}:
            out = out if out is not frame else frame.copy()
            out[col] = [None if v is None or _is_nan(v) else str(v) for v in frame[col]]
    return out


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def export_log(
    log: PredictionLog | None,
    feedback: FeedbackService,
    endpoint: str,
    output: Path,
    *,
    since: float | None = None,
    until: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> ExportSummary:
    suffix = output.suffix.lower()
    if suffix not in FORMATS:
        raise InvalidInputError(
            f"-o must end in .parquet or .csv, got {output.name!r}", field="output"
        )
    if not output.parent.is_dir():
        raise InvalidInputError(
            f"cannot write {output}: the folder {output.parent} does not exist", field="output"
        )
    started = time.perf_counter()
    tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    rows = labelled_count = 0
    writer: Any = None
    schema: Any = None
    try:
        for chunk in labelled_frames(log, feedback, endpoint=endpoint, since=since, until=until):
            frame = chunk.sort_values("time", kind="stable", ignore_index=True)
            rows += len(frame)
            labelled_count += int(frame["label"].notna().sum())
            if suffix == ".csv":
                _for_csv(frame).to_csv(tmp, mode="a", header=writer is None, index=False)
                writer = True
            else:
                import pyarrow as pa
                import pyarrow.parquet as pq

                table = pa.Table.from_pandas(_for_parquet(frame), preserve_index=False)
                if writer is None:
                    schema = table.schema
                    writer = pq.ParquetWriter(tmp, schema)
                else:
                    table = table.cast(schema) if table.schema != schema else table
                writer.write_table(table)
            if progress is not None:
                progress(rows)
        if writer is None:  # nothing in the window: a file with the columns and no rows
            from modelplane.monitoring.joined import empty_labelled

            empty = empty_labelled()
            if suffix == ".csv":
                empty.to_csv(tmp, index=False)
            else:
                empty.to_parquet(tmp, index=False)
        elif suffix == ".parquet":
            writer.close()
        os.replace(tmp, output)
    finally:
        if tmp.exists():
            tmp.unlink()
    return ExportSummary(endpoint, rows, labelled_count, str(output), time.perf_counter() - started)


__all__ = ["ExportSummary", "export_log", "parse_time"]
