"""``modelplane log export|stats|prune`` and ``modelplane feedback load``.

The prediction log of the local installation (``--home``/``MODELPLANE_*``: the server's own
store): export one endpoint's predictions with their labels, show its size, apply retention
now. ``feedback load`` stores labels from a CSV or Parquet file (columns ``prediction_id`` and
``label`` unless named otherwise), in parts, with a progress bar; with ``--url`` it sends them to
a running server instead (authenticated by ``MODELPLANE_TOKEN``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from modelplane.cli import workspace
from modelplane.cli.output import JsonFlag, note, print_json
from modelplane.errors import InvalidInputError

log_app = typer.Typer(
    name="log",
    help="The prediction log: every answered prediction with its inputs, outputs and label.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
feedback_app = typer.Typer(
    name="feedback",
    help="Labels for answered predictions, joined by prediction id.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

CHUNK = 5000

SinceOption = Annotated[
    str | None,
    typer.Option(
        "--since",
        help="Only predictions at or after this time: ISO 8601 (2026-12-01T10:00:00Z) or a "
        "duration back from now (15m, 24h, 7d).",
    ),
]
UntilOption = Annotated[
    str | None,
    typer.Option("--until", help="Only predictions before this time (same forms as --since)."),
]
NoProgress = Annotated[bool, typer.Option("--no-progress", help="Do not show a progress bar.")]


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


@contextmanager
def _progress(enabled: bool, what: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr advanced to the count it is given (or a no-op)."""
    if not enabled:
        yield lambda done: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn(what),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task(what, total=total)
    with bar:
        yield lambda done: bar.update(task, completed=done)


def _log() -> Any:
    ws = workspace()
    if ws.predictions is None:
        raise InvalidInputError(
            "the prediction log is off (MODELPLANE_PREDICTION_LOG=off)", field="prediction_log"
        )
    return ws


@log_app.command("export")
def export(
    endpoint: Annotated[str, typer.Argument(metavar="ENDPOINT", help="The endpoint's name.")],
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="A .parquet or .csv file (written whole, then renamed)."
        ),
    ],
    since: SinceOption = None,
    until: UntilOption = None,
    no_progress: NoProgress = False,
    json_out: JsonFlag = False,
) -> None:
    """Write ENDPOINT's predictions, one row per prediction id, with their labels joined."""
    from modelplane.monitoring.export import export_log, parse_time

    ws = _log()
    start = parse_time(since, "--since")
    end = parse_time(until, "--until")
    with _progress(not no_progress and _stderr_is_terminal(), "exporting", None) as progress:
        summary = export_log(
            ws.predictions,
            ws.feedback,
            endpoint,
            output,
            since=start,
            until=end,
            progress=progress,
        )
    if json_out:
        print_json(summary.to_dict())
        return
    note(
        f"exported {summary.rows:,} predictions of {endpoint} ({summary.labelled:,} labelled) "
        f"→ {summary.output}"
    )


@log_app.command("stats")
def stats(json_out: JsonFlag = False) -> None:
    """Where the prediction log is, how large it is and its retention."""
    ws = _log()
    settings = ws.settings
    doc = {
        "backend": type(ws.predictions).__name__,
        "mode": settings.prediction_log,
        "bytes": ws.predictions.size_bytes(),
        "retention_seconds": settings.log_retention,
        "max_bytes": settings.log_max_size,
        "fsync_interval": settings.log_fsync_interval,
    }
    if json_out:
        print_json(doc)
        return
    for key, value in doc.items():
        note(f"{key}: {value}")


@log_app.command("prune")
def prune(json_out: JsonFlag = False) -> None:
    """Apply the retention (age, then size) now; the server also does it every 10 minutes."""
    ws = _log()
    result = ws.predictions.prune(
        max_age=ws.settings.log_retention, max_bytes=ws.settings.log_max_size
    )
    doc = {
        "removed_requests": result.removed_requests,
        "removed_bytes": result.removed_bytes,
        "remaining_bytes": result.remaining_bytes,
    }
    if json_out:
        print_json(doc)
        return
    note(
        f"removed {result.removed_requests:,} logged requests ({result.removed_bytes:,} bytes); "
        f"{result.remaining_bytes:,} bytes remain"
    )


def _read_labels(path: Path, id_column: str, label_column: str) -> Any:
    import pandas as pd

    if not path.is_file():
        raise InvalidInputError(f"{path}: no such file", field="FILE")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            frame = pd.read_csv(path, dtype={id_column: str}, keep_default_na=True)
        elif suffix == ".parquet":
            frame = pd.read_parquet(path)
        else:
            raise InvalidInputError(
                f"{path.name}: labels must be a .csv or .parquet file", field="FILE"
            )
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{path.name}: cannot be read ({exc})", field="FILE") from None
    missing = [c for c in (id_column, label_column) if c not in frame.columns]
    if missing:
        raise InvalidInputError(
            f"{path.name}: no column {missing[0]!r} (columns: {', '.join(map(str, frame.columns))})"
            "; name them with --id-column/--label-column",
            field="FILE",
        )
    return frame


def _plain(value: Any) -> Any:
    item = getattr(value, "item", None)
    return item() if callable(item) else value


@feedback_app.command("load")
def load(
    endpoint: Annotated[str, typer.Argument(metavar="ENDPOINT", help="The endpoint's name.")],
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="A .csv or .parquet file of labels.")
    ],
    id_column: Annotated[
        str, typer.Option("--id-column", help="The column of prediction ids.")
    ] = "prediction_id",
    label_column: Annotated[
        str, typer.Option("--label-column", help="The column of labels.")
    ] = "label",
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            help="A running server (authenticated with $MODELPLANE_TOKEN) instead of the local "
            "installation.",
        ),
    ] = None,
    no_progress: NoProgress = False,
    json_out: JsonFlag = False,
) -> None:
    """Store the labels of FILE for ENDPOINT's predictions (idempotent: loading it again
    changes nothing; a different label for an id replaces it and is kept in its history)."""
    frame = _read_labels(file, id_column, label_column)
    items = [
        {"prediction_id": _plain(pid), "label": _plain(label)}
        for pid, label in zip(frame[id_column], frame[label_column], strict=True)
    ]
    totals = {"stored": 0, "updated": 0, "unchanged": 0, "errors": 0}
    errors: list[dict[str, Any]] = []
    if url:
        from modelplane.client.http import Transport

        transport = Transport(url, os.environ.get("MODELPLANE_TOKEN") or None)

        def send(part: list[dict[str, Any]]) -> dict[str, Any]:
            answer: dict[str, Any] = transport.request(
                "POST", f"/v1/endpoints/{endpoint}/feedback", json_body=part
            ).json()
            return answer

    else:
        ws = workspace()

        def send(part: list[dict[str, Any]]) -> dict[str, Any]:
            return ws.feedback.record(endpoint, part).to_dict()

    with _progress(not no_progress and _stderr_is_terminal(), "labels", len(items)) as progress:
        for start in range(0, len(items), CHUNK):
            answer = send(items[start : start + CHUNK])
            for key in totals:
                totals[key] += int(answer.get(key, 0))
            errors.extend(
                {"row": start + i, **item}
                for i, item in enumerate(answer.get("items", []))
                if item.get("status") == "error"
            )
            progress(min(start + CHUNK, len(items)))
    doc = {"endpoint": endpoint, "rows": len(items), **totals, "error_items": errors[:100]}
    if json_out:
        print_json(doc)
    else:
        note(
            f"{len(items):,} labels for {endpoint}: {totals['stored']:,} stored, "
            f"{totals['updated']:,} updated, {totals['unchanged']:,} unchanged, "
            f"{totals['errors']:,} refused"
        )
        for item in errors[:10]:
            note(f"  row {item['row']}: {item.get('error')}")
    if totals["errors"]:
        raise typer.Exit(1)


__all__ = ["feedback_app", "log_app"]
