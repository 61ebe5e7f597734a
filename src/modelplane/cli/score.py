"""``modelplane score TARGET INPUT -o OUTPUT``: batch scoring of a CSV or Parquet file.

TARGET is a ``models:/`` URI or an endpoint name (its graph is applied). The work is done by
:func:`modelplane.batch.scoring.score_file`, imported when the command runs so that the CLI
stays cheap to start. A rich progress bar goes to stderr when stderr is a terminal (never with
``--no-progress``); ``--json`` prints the summary as one JSON document on stdout.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelplane.cli import workspace
from modelplane.cli.output import JsonFlag, note, print_json

if TYPE_CHECKING:
    from modelplane.batch.scoring import ScoreProgress


def score(
    target: Annotated[
        str,
        typer.Argument(
            metavar="MODEL_URI|ENDPOINT",
            help="A models:/NAME/VERSION or models:/NAME@ALIAS URI, or an endpoint name.",
        ),
    ],
    input_path: Annotated[
        Path,
        typer.Argument(metavar="INPUT", help="The rows to score: a .csv or .parquet file."),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="Where to write the predictions: a .csv or .parquet file (replaced atomically).",
        ),
    ],
    keep: Annotated[
        list[str] | None,
        typer.Option(
            "--keep",
            "-k",
            metavar="COLUMN",
            help="Copy this input column to the output (e.g. an id); repeatable.",
        ),
    ] = None,
    batch_size: Annotated[
        int,
        typer.Option("--batch-size", "-b", min=1, max=1_000_000, help="Rows per model call."),
    ] = 10_000,
    no_progress: Annotated[
        bool, typer.Option("--no-progress", help="Do not show a progress bar.")
    ] = False,
    accelerate: Annotated[
        bool | None,
        typer.Option(
            "--accelerate/--no-accelerate",
            help="Use ONNX Runtime when numerically equivalent (default: yes for a model URI, "
            "the endpoint's setting for an endpoint).",
        ),
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """Score a CSV or Parquet file with a model or an endpoint's graph, in bounded memory.

    Output columns: prediction, proba_<class> per class, the --keep columns, model.
    """
    from modelplane.batch.scoring import score_file

    ws = workspace()
    show_bar = not no_progress and _stderr_is_terminal()
    unit = "rows" if input_path.suffix.lower() == ".parquet" else "bytes"
    with _progress_bar(show_bar, unit) as progress:
        summary = score_file(
            ws,
            target,
            input_path,
            output,
            batch_size=batch_size,
            keep_columns=keep or None,
            progress=progress,
            accelerate=accelerate,
        )
    if json_out:
        print_json(summary.to_dict())
        return
    note(
        f"scored {summary.rows:,} rows with {'+'.join(summary.model_versions)} in "
        f"{summary.seconds:.2f} s → {summary.output}"
    )


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


@contextmanager
def _progress_bar(enabled: bool, unit: str) -> Iterator[Callable[[ScoreProgress], None] | None]:
    """A rich progress bar on stderr fed by score_file's progress callback (or nothing)."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    amount: Any = DownloadColumn() if unit == "bytes" else MofNCompleteColumn()
    bar = Progress(
        TextColumn("scoring"),
        BarColumn(),
        amount,
        TextColumn("{task.fields[rows]:,} rows"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task("scoring", total=None, rows=0)

    def update(p: ScoreProgress) -> None:
        bar.update(task, completed=p.done, total=p.total, rows=p.rows)

    with bar:
        yield update


__all__ = ["score"]
