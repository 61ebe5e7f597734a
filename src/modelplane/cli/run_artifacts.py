"""``modelplane runs artifacts RUN_ID`` and ``modelplane runs download RUN_ID [PATH] -o DIR``:
list a run's artifact files and download them (each verified against its recorded SHA-256)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelplane.cli import workspace
from modelplane.cli.output import JsonFlag, cell, new_table, note, print_json, show
from modelplane.errors import InvalidInputError
from modelplane.tracking.artifacts import optional_path


def list_artifacts(
    run_id: Annotated[str, typer.Argument(help="The run id.")],
    path: Annotated[
        str | None, typer.Option("--path", "-p", help="Only files at or below this path.")
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """List a run's artifact files: path, size and SHA-256."""
    rel = optional_path(path, "path")
    ws = workspace()
    entries = ws.run_artifacts.list(run_id, rel or None)
    if json_out:
        print_json([e.to_dict() for e in entries])
        return
    if not entries:
        note(f"run {run_id} has no artifacts" + (f" under {rel!r}" if rel else ""))
        return
    table = new_table(f"Artifacts of run {run_id}", "path", "size", "sha256", no_wrap=("sha256",))
    for e in entries:
        table.add_row(cell(e.path), cell(e.size), cell(e.sha256[:16]))
    show(table)


def download(
    run_id: Annotated[str, typer.Argument(help="The run id.")],
    path: Annotated[
        str | None,
        typer.Argument(help="A file or folder of the run (default: all its artifacts)."),
    ] = None,
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="The folder to download into (created if needed)."),
    ] = Path("."),
    json_out: JsonFlag = False,
) -> None:
    """Download a run's artifacts (or one file or folder of them) into a folder, keeping the
    run's layout; every file is verified against its recorded SHA-256."""
    from modelplane.tracking.run import Run

    rel = optional_path(path, "path")
    if output.exists() and not output.is_dir():
        raise InvalidInputError(f"{output} exists and is not a folder", field="output")
    ws = workspace()
    run = Run(ws.tracking, ws.tracking.get_run(run_id), ws.run_artifacts)
    entries = run.list_artifacts(rel or None)
    target = run.download_artifacts(rel, output)
    if json_out:
        print_json({"path": str(target), "files": [e.to_dict() for e in entries]})
        return
    note(f"downloaded {len(entries)} file(s) to {target}")


__all__ = ["download", "list_artifacts"]
