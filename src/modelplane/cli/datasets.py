"""``modelplane datasets …``: registered, content-hashed dataset versions."""

from __future__ import annotations

from typing import Annotated

import typer

from modelplane.cli import workspace
from modelplane.cli.output import (
    JsonFlag,
    cell,
    fmt_time,
    key_values,
    new_table,
    note,
    print_json,
    show,
)
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


@app.command("show")
def show_dataset(
    dataset: Annotated[
        str,
        typer.Argument(
            metavar="DATASET",
            help="A dataset name (its newest version) or a datasets:/NAME/VERSION URI "
            "(datasets:/NAME@latest, datasets:/NAME: the newest).",
        ),
    ],
    version: Annotated[
        int | None,
        typer.Option("--version", "-v", min=1, metavar="N", help="This version (by name)."),
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """Show a dataset version: URI, rows, columns and their types, content hash, source."""
    dv = workspace().datasets.get(dataset, version)
    if json_out:
        print_json(dv.to_dict())
        return
    rows = [
        ("rows", dv.num_rows),
        ("columns", dv.num_columns),
        ("sha256", dv.content_hash),
        ("created", f"{fmt_time(dv.created_at)} by {dv.created_by or '?'}"),
        ("source", dv.source),
    ]
    table = new_table("Schema", "column", "type")
    for column, dtype in dv.schema.items():
        table.add_row(cell(column), cell(dtype))
    show(key_values(dv.uri, rows), table)
