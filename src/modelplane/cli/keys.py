"""``modelplane keys …``: the master key of encryption at rest — status and rotation.

``rotate`` re-wraps every artifact's data key from the configured key
(``MODELPLANE_ENCRYPTION_KEY``) to ``--new-key`` without rewriting any artifact file, in batches,
each committed with its audit entry (who, which key_ids, how many; never key material). It is
idempotent and resumable: a rerun skips what is already under the new key.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from modelplane.cli import workspace
from modelplane.cli.output import JsonFlag, cell, key_values, new_table, note, print_json, show
from modelplane.errors import ConflictError, InvalidInputError

app = typer.Typer(
    name="keys",
    help="Encryption at rest: which master key protects the artifacts, and its rotation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

NewKey = Annotated[
    str,
    typer.Option(
        "--new-key",
        help="The new master key: 64 hex characters, base64, or the path of a file holding one "
        "(a file keeps the key out of shell history and process listings).",
        show_default=False,
    ),
]


@app.command("status")
def status(json_out: JsonFlag = False) -> None:
    """The configured key's key_id, how many artifacts each key_id protects, how many are
    plaintext."""
    from modelplane.stores.artifacts.rotation import count_by_key

    ws = workspace()
    master = ws.artifacts.master_key
    configured = master.key_id if master is not None else None
    counts = count_by_key(ws.meta)
    if json_out:
        print_json(
            {
                "configured_key_id": configured,
                "by_key_id": counts.by_key_id,
                "plaintext": counts.plaintext,
                "total": counts.total,
            }
        )
        return
    show(
        key_values(
            "Encryption at rest",
            [
                ("configured key", configured or "none (new artifacts are stored in plaintext)"),
                ("artifacts", counts.total),
            ],
        )
    )
    table = new_table("Artifacts per key", "key_id", "artifacts", "note", no_wrap=["key_id"])
    for key_id, n in sorted(counts.by_key_id.items()):
        remark = "configured" if key_id == configured else "not the configured key"
        table.add_row(cell(key_id), cell(n), cell(remark))
    if counts.plaintext:
        table.add_row(cell("(plaintext)"), cell(counts.plaintext), cell("not encrypted"))
    if table.row_count:
        show(table)


@app.command("rotate")
def rotate(
    new_key: NewKey,
    batch_size: Annotated[
        int,
        typer.Option("--batch-size", min=1, max=10_000, help="Artifacts per transaction."),
    ] = 500,
    json_out: JsonFlag = False,
) -> None:
    """Re-wrap every data key from MODELPLANE_ENCRYPTION_KEY to --new-key (files untouched)."""
    from sqlalchemy.engine import Connection

    from modelplane.stores.artifacts.crypto import MasterKey
    from modelplane.stores.artifacts.rotation import rotate as rewrap

    ws = workspace()
    new = MasterKey.parse(new_key, source="--new-key", field="new_key")
    old = ws.artifacts.master_key
    if old is None:
        raise InvalidInputError(
            "no current encryption key: set MODELPLANE_ENCRYPTION_KEY to the key the artifacts "
            "are encrypted under, and give the new one with --new-key",
            field="encryption_key",
        )
    if new.key_id == old.key_id:
        raise InvalidInputError(
            f"--new-key is the configured key ({old.key_id}); nothing to rotate", field="new_key"
        )

    def audit(conn: Connection, summary: dict[str, Any]) -> None:
        ws.audit.append(
            conn,
            actor=ws.actor,
            action="keys.rotate",
            target="artifacts",
            before={"key_id": old.key_id},
            after=summary,
        )

    result = rewrap(ws.meta, old, new, batch_size=batch_size, on_batch=audit)
    if json_out:
        print_json(result.to_dict())
    else:
        batches = "batch" if result.batches == 1 else "batches"
        line = (
            f"re-wrapped {result.rewrapped} data key(s) from {old.key_id} to {new.key_id} in "
            f"{result.batches} {batches} ({result.already} already under {new.key_id}); "
        )
        note(line + "set MODELPLANE_ENCRYPTION_KEY to the new key")
    if result.failed:
        shown = ", ".join(repr(k) for k in result.failed[:3])
        more = f" and {len(result.failed) - 3} more" if len(result.failed) > 3 else ""
        raise ConflictError(
            f"{len(result.failed)} wrapped data key(s) did not open under {old.key_id} and were "
            f"left as they are: {shown}{more} (altered, or moved from another artifact)",
            failed=result.failed,
        )
    if result.other:
        ids = ", ".join(f"{k} ({n})" for k, n in sorted(result.other.items()))
        raise ConflictError(
            f"artifacts under other keys were left as they are: {ids}; rotate them with "
            "MODELPLANE_ENCRYPTION_KEY set to that key",
            key_ids=dict(result.other),
        )
