"""``modelplane token create|list|revoke``: API tokens for the server.

Against the local installation (the metadata database named by ``--home``/``MODELPLANE_*``: what
an administrator on the server's machine does first), or with ``--url`` against a running server,
authenticated by ``MODELPLANE_TOKEN`` (an admin token). The secret is printed once, on creation;
only a hash of it is kept.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer

from modelplane.cli import workspace
from modelplane.cli.output import (
    JsonFlag,
    cell,
    fmt_time,
    iso_times,
    new_table,
    note,
    print_json,
    show,
)
from modelplane.errors import InvalidInputError

#: Epoch-millisecond fields of a token record, printed in ISO 8601 by the CLI.
TIME_FIELDS = ("created_at", "expires_at", "revoked_at")

app = typer.Typer(
    name="token",
    help="API tokens: roles viewer < predictor < operator < admin, optionally scoped.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        help="A running server (authenticated with $MODELPLANE_TOKEN) instead of the local "
        "installation.",
    ),
]


def _remote(url: str) -> Any:
    from modelplane.client.http import Transport

    return Transport(url, os.environ.get("MODELPLANE_TOKEN") or None)


@app.command("create")
def create(
    role: Annotated[
        str,
        typer.Option("--role", help="viewer, predictor, operator or admin.", show_default=False),
    ],
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope", help="endpoint:NAME or model:NAME (repeatable): only those resources."
        ),
    ] = None,
    expires: Annotated[
        str | None, typer.Option("--expires", help="Lifetime such as 30d, 12h, 90m.")
    ] = None,
    name: Annotated[str, typer.Option("--name", help="A name for listings and the audit log.")] = (
        "token"
    ),
    rate_limit: Annotated[
        float | None,
        typer.Option("--rate-limit", help="Requests per second for this token.", min=0.001),
    ] = None,
    url: UrlOption = None,
    json_out: JsonFlag = False,
) -> None:
    """Create a token and print its secret (shown this once)."""
    scopes = list(scope or [])
    if url:
        with _remote(url) as http:
            answer = http.json(
                "POST",
                "/api/v1/tokens",
                json_body={
                    "name": name,
                    "role": role.strip().lower(),
                    "scopes": scopes,
                    "expires": expires,
                    "rate_limit": rate_limit,
                },
            )
        info, secret = answer, str(answer["token"])
    else:
        token, secret = workspace().tokens.create(
            name, role, scopes=scopes, expires=expires, rate_limit=rate_limit
        )
        info = {**token.to_dict(), "token": secret}
    if json_out:
        print_json(iso_times(info, *TIME_FIELDS))
        return
    typer.echo(secret)  # alone on stdout: TOKEN=$(modelplane token create ...) works
    typer.echo(
        f"token {info['id']} ({info['role']}) created; this is the only time the secret is "
        "shown. Use it as 'Authorization: Bearer <token>' or MODELPLANE_TOKEN.",
        err=True,
    )


@app.command("list")
def list_tokens(
    all_: Annotated[bool, typer.Option("--all", help="Include revoked tokens.")] = False,
    url: UrlOption = None,
    json_out: JsonFlag = False,
) -> None:
    """List tokens (never their secrets)."""
    if url:
        with _remote(url) as http:
            rows = http.json("GET", "/api/v1/tokens", params={"include_revoked": all_})
    else:
        rows = [t.to_dict() for t in workspace().tokens.list(include_revoked=all_)]
    if json_out:
        print_json([iso_times(row, *TIME_FIELDS) for row in rows])
        return
    if not rows:
        note("no tokens")
        return
    table = new_table("API tokens", "id", "name", "role", "scopes", "status", "expires", "created")
    for t in rows:
        table.add_row(
            cell(t["id"]),
            cell(t["name"]),
            cell(t["role"]),
            cell(", ".join(t["scopes"]) or "-"),
            cell(t["status"]),
            cell(fmt_time(t["expires_at"]) if t["expires_at"] else "never"),
            cell(fmt_time(t["created_at"])),
        )
    show(table)


@app.command("revoke")
def revoke(
    token: Annotated[str, typer.Argument(help="The token's id (or its name, if unique).")],
    url: UrlOption = None,
    json_out: JsonFlag = False,
) -> None:
    """Revoke a token: servers refuse it within one poll interval."""
    if not token.strip():
        raise InvalidInputError("give the token's id or name", field="token")
    if url:
        from urllib.parse import quote

        with _remote(url) as http:
            info = http.json("DELETE", f"/api/v1/tokens/{quote(token, safe='')}")
    else:
        info = workspace().tokens.revoke(token).to_dict()
    if json_out:
        print_json(iso_times(info, *TIME_FIELDS))
        return
    note(f"token {info['id']} ({info['name']}) revoked")
