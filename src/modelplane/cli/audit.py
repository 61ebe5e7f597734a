"""``modelplane audit …``: read the keyed, hash-chained audit log and verify it (and its anchor)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelplane.cli import workspace
from modelplane.cli.output import JsonFlag, cell, fmt_time, new_table, note, print_json, show
from modelplane.errors import AuditChainError

app = typer.Typer(
    name="audit",
    help="The append-only, hash-chained audit log.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.command("list")
def list_entries(
    target: Annotated[
        str | None,
        typer.Option("--target", "-t", help="Only this target and what is under it (models/x)."),
    ] = None,
    action: Annotated[
        str | None, typer.Option("--action", "-a", help="Only this action (e.g. alias.set).")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, max=100_000, help="At most this many entries.")
    ] = 50,
    json_out: JsonFlag = False,
) -> None:
    """List audit entries, newest first."""
    entries = workspace().audit.list(target=target, action=action, limit=limit)
    if json_out:
        print_json([e.to_dict() for e in entries])
        return
    if not entries:
        note("no audit entries match")
        return
    table = new_table("Audit log", "seq", "time", "actor", "action", "target")
    for e in entries:
        table.add_row(
            cell(e.seq), cell(fmt_time(e.ts)), cell(e.actor), cell(e.action), cell(e.target)
        )
    show(table)


@app.command("verify")
def verify(
    anchor: Annotated[
        Path | None,
        typer.Option(
            "--anchor",
            help="Also check that the log contains every head recorded in this anchor file "
            "(what MODELPLANE_AUDIT_ANCHOR writes); catches a database restored from an older "
            "copy. Default: the MODELPLANE_AUDIT_ANCHOR file, when that is a file.",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """Check the hash chain, every MAC and the head; exit 1 naming the first bad entry and why."""
    result = workspace().audit.verify(anchor=anchor)
    if json_out:
        print_json(result.to_dict())
        if not result.ok:
            raise typer.Exit(1)
        return
    if not result.ok:
        raise AuditChainError(
            f"audit chain broken at entry {result.first_bad_seq}: {result.reason}",
            first_bad_seq=result.first_bad_seq,
        )
    message = f"audit chain intact: {result.checked} entries verified, every MAC matches"
    if result.anchored is not None:
        message += f"; {result.anchored} anchored heads found in the chain"
    note(message)
