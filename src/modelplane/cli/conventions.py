"""The command line's conventions, applied once to the whole command tree.

Commands are declared with Typer across many modules; rather than repeating the same settings on
every parameter, :func:`apply_conventions` walks the built click tree once per invocation and
makes every command follow the same rules:

* **help without type noise**: flags show no value placeholder (``--json``, not
  ``--json <bool>``); an option that takes a value shows one upper-case word
  (``--batch-size BATCH_SIZE``, or its declared metavar such as ``--keep COLUMN``); a positional
  argument is shown by its upper-case name only (``MODEL_URI``, ``ENDPOINT``, ``RUN_ID``);
* **global options anywhere**: the root's ``--home``, ``--db-url`` and ``--artifacts`` are also
  accepted after the subcommand (``modelplane models list --home X``). They are parsed by click
  as options of that command, so a value that happens to read ``--home`` is never mistaken for
  the option. Given in both places with different values → a usage error (exit 2);
* **JSON errors**: every ``--json`` flag is processed first and recorded on the
  :class:`~modelplane.cli.CliState`, so the error boundary (``run_guarded``) can answer in JSON.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from modelplane.cli import CliState, UsageError

#: Root options re-attached to every command, by parameter name.
GLOBAL_OPTIONS = ("home", "db_url", "artifacts")
GLOBAL_PANEL = "Global options"
_APPLIED = "_modelplane_conventions"


def walk(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command of the tree under ``command`` (itself first) with its name path."""
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from walk(sub, (*path, name))


def apply_conventions(root: Any) -> None:
    """Apply the conventions to the click command tree rooted at ``root`` (idempotent)."""
    if getattr(root, _APPLIED, False):
        return
    shared = [p for p in root.params if p.name in GLOBAL_OPTIONS]
    for path, command in walk(root):
        if path:
            _attach_globals(command, shared)
        for param in [*command.params, _help_option(command)]:
            if param is not None:
                _polish(param)
    setattr(root, _APPLIED, True)


def _help_option(command: Any) -> Any:
    """The command's ``--help`` option (click creates it on first use and caches it)."""
    try:
        return command.get_help_option(typer.Context(command))
    except (AttributeError, TypeError):  # a click without a cached help option object
        return None


def _polish(param: Any) -> None:
    if getattr(param, "param_type_name", None) == "argument":
        param.metavar = (param.metavar or param.name).upper()
        param.display_type_rich = _no_type
        return
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        param.metavar = ""
    elif param.metavar is None:
        long_names = [o for o in param.opts if o.startswith("--")] or list(param.opts)
        param.metavar = long_names[0].lstrip("-").replace("-", "_").upper()
    if "--json" in param.opts and param.callback is None:
        param.callback = _remember_json
        param.is_eager = True


def _no_type(ctx: Any) -> None:
    """Positional arguments are described by their name and help; no type column."""
    return None


def _attach_globals(command: Any, shared: list[Any]) -> None:
    taken = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}
    for option in shared:
        if taken.intersection(option.opts):
            continue  # the command has an option of that name of its own
        twin = copy.copy(option)
        twin.expose_value = False
        twin.is_eager = True
        twin.callback = _merge_global
        twin.rich_help_panel = GLOBAL_PANEL
        command.params.append(twin)


def _merge_global(ctx: Any, param: Any, value: Any) -> Any:
    """Store a global option given after the subcommand; refuse a second, different value."""
    if value is None:
        return value
    state = ctx.find_object(CliState)
    if state is None:
        state = ctx.ensure_object(CliState)
    current = getattr(state, param.name)
    if isinstance(value, Path):
        value = Path(value)
    if current is not None and current != value:
        raise UsageError(
            f"{param.opts[0]} given twice with different values ({current} and {value}); "
            "give it once",
            ctx,
        )
    setattr(state, param.name, value)
    return value


def _remember_json(ctx: Any, param: Any, value: Any) -> Any:
    state = ctx.find_object(CliState)
    if state is not None:
        state.json = bool(value)
    return value


__all__ = ["GLOBAL_OPTIONS", "apply_conventions", "walk"]
