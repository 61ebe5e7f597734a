"""``modelplane runs …``: list and search tracked runs."""

from __future__ import annotations

from typing import Annotated

import typer

from modelplane.cli import workspace
from modelplane.cli.output import (
    JsonFlag,
    cell,
    fmt_mapping,
    fmt_time,
    new_table,
    note,
    print_json,
    show,
)
from modelplane.errors import NotFoundError

app = typer.Typer(
    name="runs",
    help="Tracked runs: params, metrics, tags, datasets.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.command("list")
def list_runs(
    experiment: Annotated[
        str | None, typer.Option("--experiment", "-e", help="Only runs of this experiment.")
    ] = None,
    filter_: Annotated[
        str | None,
        typer.Option(
            "--filter",
            "-f",
            help="Search filter, e.g. \"metrics.auc > 0.9 and params.C = '1.0'\".",
        ),
    ] = None,
    order_by: Annotated[
        list[str] | None,
        typer.Option("--order-by", "-o", help='Sort, e.g. "metrics.auc DESC" (repeatable).'),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, max=1_000_000, help="At most this many runs.")
    ] = 100,
    json_out: JsonFlag = False,
) -> None:
    """List runs, newest first (or as --order-by says), optionally filtered."""
    tracking = workspace().tracking
    if experiment is not None and tracking.find_experiment(experiment) is None:
        raise NotFoundError(f"no experiment named {experiment!r}", field="experiment")
    runs = tracking.list_runs(experiment, filter_, order_by=order_by, max_results=limit)
    if json_out:
        print_json([r.to_dict() for r in runs])
        return
    if not runs:
        note("no runs match")
        return
    table = new_table(
        "Runs",
        "run id",
        "name",
        "experiment",
        "status",
        "started",
        "metrics",
        "params",
        no_wrap=("run id",),
    )
    for r in runs:
        table.add_row(
            cell(r.id),
            cell(r.name),
            cell(r.experiment),
            cell(r.status),
            cell(fmt_time(r.start_time)),
            cell(fmt_mapping(r.metrics, limit=4)),
            cell(fmt_mapping(r.params, limit=4)),
        )
    show(table)
