"""``modelplane runs …``: list and search tracked runs; show, delete and restore one."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from modelplane.cli import run_artifacts, workspace
from modelplane.cli.output import (
    JsonFlag,
    cell,
    fmt_mapping,
    fmt_time,
    key_values,
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
app.command("artifacts")(run_artifacts.list_artifacts)
app.command("download")(run_artifacts.download)


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
    lifecycle: Annotated[
        str,
        typer.Option(
            "--lifecycle", help="Which runs: active (default), deleted or all.", metavar="STAGE"
        ),
    ] = "active",
    json_out: JsonFlag = False,
) -> None:
    """List runs, newest first (or as --order-by says), optionally filtered."""
    tracking = workspace().tracking
    if experiment is not None and tracking.find_experiment(experiment) is None:
        raise NotFoundError(f"no experiment named {experiment!r}", field="experiment")
    runs = tracking.list_runs(
        experiment, filter_, order_by=order_by, max_results=limit, lifecycle=lifecycle
    )
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


# -- show, delete, restore -----------------------------------------------------------------------

RunIdArg = Annotated[
    str, typer.Argument(metavar="RUN_ID", help="The run id (see 'modelplane runs list').")
]


SHOWN_ARTIFACTS = 50
"""How many artifact files ``runs show`` lists (``runs artifacts`` lists them all)."""


@app.command("show")
def show_run(run_id: RunIdArg, json_out: JsonFlag = False) -> None:
    """Show a run: status, times, experiment, params, latest metrics, tags, datasets and
    artifact files (the first 50; 'modelplane runs artifacts RUN_ID' lists them all)."""
    ws = workspace()
    info = ws.tracking.get_run(run_id)
    artifacts = ws.run_artifacts.list(info.id)
    if json_out:
        print_json({**info.to_dict(), "artifacts": [e.to_dict() for e in artifacts]})
        return
    rows: list[tuple[str, Any]] = [
        ("name", info.name),
        ("experiment", f"{info.experiment} (id {info.experiment_id})"),
        ("status", info.status),
        ("lifecycle", info.lifecycle),
        ("started", fmt_time(info.start_time)),
        ("ended", fmt_time(info.end_time)),
        ("user", info.user),
        ("source", info.source),
        ("code version", info.code_version),
    ]
    renderables: list[Any] = [key_values(f"Run {info.id}", rows)]
    for title, values in (("Params", info.params), ("Metrics", info.metrics), ("Tags", info.tags)):
        if values:
            table = new_table(title, "key", "value")
            for key, value in sorted(values.items()):
                text = value if isinstance(value, (str, float)) else json.dumps(value)
                table.add_row(cell(key), cell(text))
            renderables.append(table)
    if info.datasets:
        table = new_table("Datasets", "dataset", "context")
        for d in info.datasets:
            table.add_row(cell(f"datasets:/{d['name']}/{d['version']}"), cell(d["context"]))
        renderables.append(table)
    if artifacts:
        table = new_table("Artifacts", "path", "size", "sha256", no_wrap=("sha256",))
        for e in artifacts[:SHOWN_ARTIFACTS]:
            table.add_row(cell(e.path), cell(e.size), cell(e.sha256[:16]))
        renderables.append(table)
    show(*renderables)
    if len(artifacts) > SHOWN_ARTIFACTS:
        more = len(artifacts) - SHOWN_ARTIFACTS
        note(f"… {more} more: modelplane runs artifacts {info.id}")


@app.command("delete")
def delete_run(run_id: RunIdArg) -> None:
    """Delete a run: hidden from listings and searches, kept, restorable."""
    workspace().tracking.delete_run(run_id)
    note(f"deleted run {run_id} (restore it with 'modelplane runs restore {run_id}')")


@app.command("restore")
def restore_run(run_id: RunIdArg) -> None:
    """Restore a deleted run."""
    info = workspace().tracking.restore_run(run_id)
    note(f"restored run {info.id} ({info.name}, experiment {info.experiment})")
