"""The root ``modelplane`` command: global options, ``init``, the command groups, error handling.

Errors are mapped to output and exit codes in one place, :func:`run_guarded`, which the root
command's ``main`` (what :func:`main` and ``CliRunner`` call) wraps around the whole invocation:

* :class:`~modelplane.errors.ModelplaneError` → ``error: <message> (field: X)`` on stderr, exit
  with the error's ``exit_code`` (2 for bad input and unknown things);
* click usage errors → one ``error: …`` line, exit 2;
* anything else → ``error: internal error: <type>: <message>``, exit 1 (the traceback only with
  ``MODELPLANE_DEBUG=1``).

With ``--json`` the same errors are one JSON object on one line on stderr instead,
``{"error": "<code>", "message": "…", "field": "…"}`` (``field`` when known), with the same exit
statuses: stdout stays empty, so ``modelplane … --json | jq`` never reads an error as a result.
The conventions every command follows (help, global options anywhere, ``--json`` recorded first)
are applied to the command tree by :mod:`modelplane.cli.conventions`.

Importing this module stays cheap: pandas, scikit-learn and SQLAlchemy load inside commands.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from modelplane import __version__
from modelplane.cli import (
    ClickAbort,
    ClickException,
    CliState,
    NoArgsIsHelpError,
    UsageError,
    workspace,
)
from modelplane.cli import audit as audit_cmds
from modelplane.cli import datasets as datasets_cmds
from modelplane.cli import endpoints as endpoints_cmds
from modelplane.cli import experiments as experiments_cmds
from modelplane.cli import keys as keys_cmds
from modelplane.cli import models as models_cmds
from modelplane.cli import monitoring as monitoring_cmds
from modelplane.cli import runs as runs_cmds
from modelplane.cli import tokens as tokens_cmds
from modelplane.cli.conventions import apply_conventions
from modelplane.cli.demo import demo as demo_cmd
from modelplane.cli.endpoints import deploy as deploy_cmd
from modelplane.cli.output import (
    JsonFlag,
    error_json,
    error_line,
    hide_password,
    key_values,
    print_json,
    show,
)
from modelplane.cli.score import score as score_cmd
from modelplane.cli.serve import serve as serve_cmd
from modelplane.errors import ModelplaneError

PROG = "modelplane"


def run_guarded(
    invoke: Callable[[], Any], json_errors: Callable[[BaseException], bool] | None = None
) -> int:
    """Run the command line and turn its outcome into an exit status (the one error boundary).

    ``json_errors`` says, given the error that happened, whether to report it as JSON.
    """
    error: BaseException | None = None

    def report(code: str, message: str, field: str | None = None, *, named: bool = False) -> None:
        if json_errors is not None and error is not None and json_errors(error):
            error_json(code, message, field)
        else:  # a usage error's message already names the parameter
            error_line(message + (f" (field: {field})" if field and not named else ""))

    try:
        result = invoke()
    except NoArgsIsHelpError as exc:
        text = _message(exc)  # empty when rich already printed the help
        if text.strip():
            typer.echo(text, err=True)
        return _exit_code(exc, 2)
    except UsageError as exc:
        error = exc
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        param = getattr(exc, "param", None)
        report("usage_error", _message(exc) + hint, getattr(param, "name", None), named=True)
        return _exit_code(exc, 2)
    except ClickException as exc:
        error = exc
        report("error", _message(exc))
        return _exit_code(exc, 1)
    except (typer.Abort, ClickAbort) as exc:
        error = exc
        report("aborted", "aborted")
        return 130
    except ModelplaneError as exc:
        error = exc
        report(exc.code, exc.message, exc.field)
        return exc.exit_code
    except Exception as exc:
        if os.environ.get("MODELPLANE_DEBUG") == "1":
            traceback.print_exc(file=sys.stderr)
        error = exc
        report("internal_error", f"internal error: {type(exc).__name__}: {exc}")
        return 1
    if isinstance(result, int) and not isinstance(result, bool):
        return result  # an explicit exit status (typer.Exit / --help)
    return 0


def _message(exc: BaseException) -> str:
    format_message = getattr(exc, "format_message", None)
    return str(format_message() if callable(format_message) else exc)


def _exit_code(exc: BaseException, default: int) -> int:
    code = getattr(exc, "exit_code", default)
    return code if isinstance(code, int) else default


def _asks_for_json(argv: Sequence[str]) -> bool:
    """``--json`` among the words before ``--`` (only used when parsing failed early)."""
    words = list(argv)
    if "--" in words:
        words = words[: words.index("--")]
    return "--json" in words


class RootGroup(TyperGroup):
    """The root click group: every invocation goes through :func:`run_guarded`."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        apply_conventions(self)
        argv = list(sys.argv[1:] if args is None else args)
        state = extra.setdefault("obj", CliState())

        def invoke() -> Any:
            return super(RootGroup, self).main(
                argv,
                prog_name or PROG,
                complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )

        def json_errors(error: BaseException) -> bool:
            if isinstance(state, CliState) and state.json is not None:
                return state.json  # the command's own --json was parsed
            # parsing stopped before it: a command that has --json, and --json among the words
            command = getattr(getattr(error, "ctx", None), "command", None)
            has_json = any("--json" in p.opts for p in getattr(command, "params", ()))
            return has_json and _asks_for_json(argv)

        code = run_guarded(invoke, json_errors)
        if standalone_mode:
            sys.stdout.flush()
            sys.exit(code)
        return code


app = typer.Typer(
    name=PROG,
    cls=RootGroup,
    help="modelplane: experiment tracking, datasets, a model registry and an audit log.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"{PROG} {__version__}")
        raise typer.Exit(0)


@app.callback()
def root(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option(
            "--home",
            metavar="DIR",
            help="State folder (default: $MODELPLANE_HOME or ./.modelplane).",
            file_okay=False,
        ),
    ] = None,
    db_url: Annotated[
        str | None,
        typer.Option(
            "--db-url",
            metavar="URL",
            help="Metadata database URL (default: SQLite under the home).",
        ),
    ] = None,
    artifacts: Annotated[
        str | None,
        typer.Option(
            "--artifacts", metavar="DIR|URI", help="Artifact store: a folder or s3://bucket/prefix."
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """Global options apply to every command; they override MODELPLANE_* and modelplane.toml.

    They may also be given after the command (``modelplane models list --home X``).
    """
    state = ctx.ensure_object(CliState)
    state.home, state.db_url, state.artifacts = home, db_url, artifacts
    ctx.call_on_close(state.close)


@app.command("init")
def init(json_out: JsonFlag = False) -> None:
    """Create the home folder, migrate the metadata database, open the artifact store."""
    ws = workspace()
    settings = ws.settings
    settings.home.mkdir(parents=True, exist_ok=True)
    meta = ws.meta  # opening runs the migrations
    store = ws.artifacts
    local = getattr(store, "path", None)
    if isinstance(local, Path):
        local.mkdir(parents=True, exist_ok=True)
    info = {
        "home": str(settings.home),
        "db_url": hide_password(settings.db_url),
        "database": meta.dialect,
        "schema_revision": meta.current_revision(),
        "artifacts": str(local) if isinstance(local, Path) else store.root,
    }
    if json_out:
        print_json(info)
        return
    show(
        key_values(
            "modelplane is ready",
            [
                ("home", info["home"]),
                ("database", f"{info['db_url']} (schema {info['schema_revision']})"),
                ("artifacts", info["artifacts"]),
            ],
        )
    )


app.add_typer(models_cmds.app, name="models")
app.add_typer(runs_cmds.app, name="runs")
app.add_typer(experiments_cmds.app, name="experiments")
app.add_typer(datasets_cmds.app, name="datasets")
app.add_typer(audit_cmds.app, name="audit")
app.add_typer(keys_cmds.app, name="keys")
app.add_typer(tokens_cmds.app, name="token")
app.add_typer(monitoring_cmds.log_app, name="log")
app.add_typer(monitoring_cmds.feedback_app, name="feedback")
app.command("demo")(demo_cmd)
app.command("score")(score_cmd)
app.command("serve")(serve_cmd)
app.command("deploy")(deploy_cmd)
app.add_typer(endpoints_cmds.app, name="endpoints")


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point: run ``modelplane`` and exit with its status."""
    typer.main.get_command(app).main(args=argv, prog_name=PROG)


__all__ = ["RootGroup", "app", "main", "run_guarded"]
