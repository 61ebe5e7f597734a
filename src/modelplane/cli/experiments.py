"""``modelplane experiments …``: the experiments runs are grouped in."""

from __future__ import annotations

import typer

from modelplane.cli import workspace
from modelplane.cli.output import JsonFlag, cell, fmt_time, new_table, note, print_json, show

app = typer.Typer(
    name="experiments",
    help="Experiments: the groups runs are tracked in.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.command("list")
def list_experiments(json_out: JsonFlag = False) -> None:
    """List experiments: name, id, number of runs (deleted ones left out), last run time."""
    summaries = workspace().tracking.experiment_summaries()
    if json_out:
        print_json([s.to_dict() for s in summaries])
        return
    if not summaries:
        note("no experiments yet")
        return
    table = new_table("Experiments", "name", "id", "runs", "last run", "created")
    for s in summaries:
        table.add_row(
            cell(s.name),
            cell(s.id),
            cell(s.runs),
            cell(fmt_time(s.last_run_time)),
            cell(fmt_time(s.created_at)),
        )
    show(table)
