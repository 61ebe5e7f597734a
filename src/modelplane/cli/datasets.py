"""``modelplane datasets …``: registered, content-hashed dataset versions."""

from __future__ import annotations

from typing import Annotated

import typer

from modelplane.cli import workspace
from modelplane.cli.output import JsonFlag, cell, fmt_time, new_table, note, print_json, show
from modelplane.errors import NotFoundError

app = typer.Typer(
    name="datasets",
    help="Registered datasets and their versions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.command("list")
def list_datasets(
    name: Annotated[str | None, typer.Argument(help="Only versions of this dataset.")] = None,
    json_out: JsonFlag = False,
) -> None:
    """List dataset versions: name, version, rows, columns, content hash, created, source."""
    versions = workspace().datasets.list(name)
    if name is not None and not versions:
        raise NotFoundError(f"no dataset named {name!r}", field="dataset")
    if json_out:
        print_json([v.to_dict(with_profile=False) for v in versions])
        return
    if not versions:
        note("no datasets registered yet")
        return
    table = new_table(
        "Datasets", "name", "version", "rows", "columns", "sha256", "created", "by", "source"
    )
    for v in versions:
        table.add_row(
            cell(v.name),
            cell(f"v{v.version}"),
            cell(v.num_rows),
            cell(v.num_columns),
            cell(v.content_hash[:16]),
            cell(fmt_time(v.created_at)),
            cell(v.created_by),
            cell(v.source),
        )
    show(table)
