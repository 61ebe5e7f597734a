"""The ``modelplane`` command line (Typer + rich).

The root command (:mod:`modelplane.cli.app`) stores the global ``--home``, ``--db-url`` and
``--artifacts`` options in a :class:`CliState` on the click context; commands reach the workspace
through :func:`workspace`, which builds it on first use and closes it when the command ends.
Nothing heavy (pandas, scikit-learn, SQLAlchemy) is imported until a command needs it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from modelplane.config import Settings
    from modelplane.context import Workspace


# The click that typer runs on: recent typer versions vendor it as ``typer._click``, older ones use
# the ``click`` package. Its exception classes and context stack are looked up from typer's own
# public ``BadParameter`` so both work.
_CLICK_EXCEPTIONS = importlib.import_module(typer.BadParameter.__module__)
_CLICK_GLOBALS = importlib.import_module(
    typer.BadParameter.__module__.rpartition(".")[0] + ".globals"
)


class _NeverRaised(Exception):
    """Stands in for exception classes the running click does not have."""


ClickException: type[Exception] = _CLICK_EXCEPTIONS.ClickException
UsageError: type[Exception] = _CLICK_EXCEPTIONS.UsageError
NoArgsIsHelpError: type[Exception] = getattr(_CLICK_EXCEPTIONS, "NoArgsIsHelpError", _NeverRaised)
#: click's own Abort (typer raises ``typer.Abort``; older typer versions re-use click's).
ClickAbort: type[BaseException] = getattr(_CLICK_EXCEPTIONS, "Abort", _NeverRaised)


def current_context() -> Any:
    """The click context of the running command."""
    return _CLICK_GLOBALS.get_current_context()


@dataclass
class CliState:
    """The global options of one invocation (``None`` = not given: environment and defaults)."""

    home: Path | None = None
    db_url: str | None = None
    artifacts: str | None = None
    #: whether the running command was given ``--json`` (None: not parsed yet)
    json: bool | None = None
    _workspace: Workspace | None = field(default=None, repr=False)

    def settings(self) -> Settings:
        from modelplane.config import check_home, settings_for

        settings = settings_for(self.home, self.db_url, self.artifacts)
        check_home(settings.home, "--home" if self.home is not None else "MODELPLANE_HOME")
        return settings

    def workspace(self) -> Workspace:
        if self._workspace is None:
            from modelplane.context import Workspace

            self._workspace = Workspace(self.settings())
        return self._workspace

    def close(self) -> None:
        if self._workspace is not None:
            self._workspace.close()
            self._workspace = None


def state() -> CliState:
    """The :class:`CliState` of the running command (a default one outside the root command)."""
    ctx = current_context()
    found = ctx.find_object(CliState)
    if found is None:
        found = ctx.ensure_object(CliState)
        ctx.call_on_close(found.close)
    assert isinstance(found, CliState)
    return found


def workspace() -> Workspace:
    """The workspace the running command works on, built from the global options."""
    return state().workspace()


__all__ = [
    "CliState",
    "ClickException",
    "NoArgsIsHelpError",
    "UsageError",
    "current_context",
    "state",
    "workspace",
]
