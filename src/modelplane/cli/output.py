"""Shared rendering for the CLI: rich tables for people, exactly one JSON document for programs.

With ``--json`` a command writes one JSON document (built from the records' ``to_dict()``) to
stdout and nothing else; without it, it prints rich tables and panels. Errors always go to stderr
as one ``error: …`` line (see :func:`error_line`), or with ``--json`` as one line of JSON
``{"error": code, "message": …, "field": …}`` (see :func:`error_json`). Times are printed in
ISO 8601, UTC (``2024-05-01T12:00:00Z``).
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

JsonFlag = Annotated[
    bool,
    typer.Option("--json", help="Print one JSON document on stdout instead of tables."),
]

#: Width used when stdout is not a terminal (pipes, files, tests) and COLUMNS is not set.
PIPE_WIDTH = 160


def is_terminal() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def console() -> Console:
    """A console on the current stdout (looked up now, so test runners that swap it work)."""
    width = None if is_terminal() or os.environ.get("COLUMNS") else PIPE_WIDTH
    return Console(file=sys.stdout, width=width, highlight=False, soft_wrap=False)


def show(*renderables: RenderableType) -> None:
    """Print rich renderables (tables, panels, markdown) to stdout."""
    out = console()
    for item in renderables:
        out.print(item)


def note(message: str) -> None:
    """A plain informational line on stdout (never used in --json mode)."""
    typer.echo(message)


# -- JSON ---------------------------------------------------------------------------------------


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def print_json(document: Any) -> None:
    """Write ``document`` as the one JSON document on stdout (NaN and infinities become null)."""
    text = json.dumps(
        _json_safe(document), indent=2, ensure_ascii=False, allow_nan=False, default=str
    )
    typer.echo(text)


# -- errors -------------------------------------------------------------------------------------


def one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def error_line(message: str) -> None:
    """Print ``error: <message>`` as exactly one line on stderr."""
    typer.echo(f"error: {one_line(message)}", err=True)


def error_json(code: str, message: str, field: str | None = None) -> None:
    """Print an error as one line of JSON on stderr: ``{"error", "message", "field"?}``."""
    body: dict[str, Any] = {"error": code, "message": one_line(message)}
    if field:
        body["field"] = field
    typer.echo(json.dumps(body, ensure_ascii=False), err=True)


# -- cells and tables ---------------------------------------------------------------------------


def cell(value: Any) -> Text:
    """A table cell: plain text (never rich markup), ``-`` for missing values."""
    if value is None or value == "":
        return Text("-", style="dim")
    if isinstance(value, float):
        return Text(fmt_number(value))
    return Text(str(value))


def fmt_number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, float):
        return str(value)
    if math.isnan(value):
        return "nan"
    return f"{value:.4g}"


def fmt_mapping(values: Mapping[str, Any], limit: int = 6) -> str:
    """``auc=0.9712, f1=0.95`` — a compact one-cell view of metrics or params."""
    items = [f"{k}={fmt_number(v)}" for k, v in sorted(values.items())]
    if len(items) > limit:
        items = [*items[:limit], f"… (+{len(items) - limit})"]
    return ", ".join(items)


def fmt_time(value: int | str | None) -> str:
    """Epoch milliseconds (or an ISO string) → ISO 8601 in UTC: ``2024-05-01T12:00:00Z``."""
    if value is None:
        return "-"
    if isinstance(value, str):
        dt = datetime.fromisoformat(value)
    else:
        dt = datetime.fromtimestamp(value / 1000, tz=UTC)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_times(row: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    """``row`` with the epoch-millisecond values under ``keys`` as ISO 8601 strings (None stays)."""
    out = dict(row)
    for key in keys:
        value = out.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = fmt_time(int(value))
    return out


def fmt_aliases(aliases: Mapping[str, int] | Iterable[str]) -> str:
    if isinstance(aliases, Mapping):
        return ", ".join(f"@{a}→v{v}" for a, v in sorted(aliases.items()))
    return ", ".join(f"@{a}" for a in aliases)


def hide_password(url: str) -> str:
    """A database URL with its password replaced by ``***``."""
    try:
        import sqlalchemy as sa

        return sa.make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy understands: hide anything between ':' and '@'
        head, sep, tail = url.partition("://")
        if sep and "@" in tail:
            creds, _, host = tail.rpartition("@")
            user = creds.split(":", 1)[0]
            return f"{head}://{user}:***@{host}"
        return url


def new_table(title: str | None, *columns: str, no_wrap: Iterable[str] = ()) -> Table:
    """A table whose cells fold rather than truncate; ``no_wrap`` columns (ids) stay whole."""
    keep = set(no_wrap)
    table = Table(title=title, title_justify="left", header_style="bold", show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold", no_wrap=column in keep)
    return table


def key_values(title: str | None, rows: Iterable[tuple[str, Any]]) -> Table:
    """A two-column ``field | value`` table."""
    table = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in rows:
        table.add_row(key, value if isinstance(value, Text) else cell(value))
    return table


__all__ = [
    "PIPE_WIDTH",
    "JsonFlag",
    "cell",
    "console",
    "error_json",
    "error_line",
    "fmt_aliases",
    "fmt_mapping",
    "fmt_number",
    "fmt_time",
    "hide_password",
    "is_terminal",
    "iso_times",
    "key_values",
    "new_table",
    "note",
    "one_line",
    "print_json",
    "show",
]
