"""The functions inference-graph ``python`` steps may run: only those of modules an admin allowed.

A python step names ``'package.module:function'``. Endpoint configs arrive over HTTP and from
files, and a step runs with request data, so the name alone must not be able to reach
``os:system``, ``subprocess:getoutput``, ``builtins:eval`` or ``pickle:loads``. The allowlist is
``Settings.step_modules`` (``MODELPLANE_STEP_MODULES``: comma-separated dotted module names; a
module allows its submodules too; empty: no python steps at all). Modules of modelplane itself
are no exception: they are allowed only when listed.

:func:`resolve_function` checks, in this order, and imports nothing before the name passed:

1. the module part is a dotted name inside the allowlist (``allowed`` allows ``allowed`` and
   ``allowed.sub``, not ``allowed_other``); importing it may import its parent packages;
2. no attribute segment is a dunder (``mod:__builtins__``, ``mod:f.__globals__``);
3. the module imported is the module named (``sys.modules`` entries put there by other code are
   refused unless they are allowed themselves);
4. each attribute is looked up with ``getattr`` from that module, and none on the way may be a
   module (``allowed_mod:os.system`` where ``allowed_mod`` did ``import os``);
5. the result is callable and its ``__module__`` is itself inside the allowlist, so a function
   re-exported by an allowed module (``from os import system``) is still refused.

Refusals raise :class:`~modelplane.errors.UnsafeInputError` (HTTP 422) naming the step's
``function`` field; a module that cannot be imported or a missing attribute raise
:class:`InvalidInputError`.
"""

from __future__ import annotations

import importlib
import types
from collections.abc import Callable, Sequence
from typing import Any

from modelplane.errors import InvalidInputError, UnsafeInputError

STEP_MODULES_ENV = "MODELPLANE_STEP_MODULES"


def module_allowed(module: str, allowed: Sequence[str]) -> bool:
    """Whether the dotted module name ``module`` is one of ``allowed`` or inside one of them."""
    return any(module == a or module.startswith(a + ".") for a in allowed)


def _dotted(text: str) -> bool:
    return bool(text) and all(part.isidentifier() for part in text.split("."))


def _not_allowed(where: str, what: str, allowed: Sequence[str], field: str) -> UnsafeInputError:
    listed = ", ".join(allowed) if allowed else "none"
    return UnsafeInputError(
        f"{where}: {what}; python steps may only name functions of the modules in "
        f"{STEP_MODULES_ENV} (allowed: {listed})",
        field=field,
    )


def check_function_name(path: str, allowed: Sequence[str], where: str) -> tuple[str, list[str]]:
    """``(module, attribute path)`` of ``'module:function'`` when the name passes the allowlist
    (nothing is imported); refusals name ``{where}.function``."""
    field = f"{where}.function"
    module_name, sep, attr = path.partition(":") if isinstance(path, str) else ("", "", "")
    if not sep or not _dotted(module_name) or not _dotted(attr):
        raise InvalidInputError(
            f"{where}: function must look like 'package.module:function', got {path!r}",
            field=field,
        )
    if not module_allowed(module_name, allowed):
        raise _not_allowed(where, f"module {module_name!r} is not allowed", allowed, field)
    parts = attr.split(".")
    if any(p.startswith("__") and p.endswith("__") for p in parts):
        raise _not_allowed(where, f"{attr!r} names a dunder attribute", allowed, field)
    return module_name, parts


def resolve_function(path: str, allowed: Sequence[str], where: str) -> Callable[..., Any]:
    """The function ``'package.module:function'`` names, checked against ``allowed`` first."""
    module_name, parts = check_function_name(path, allowed, where)
    field = f"{where}.function"
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or whatever the module raises while importing
        raise InvalidInputError(
            f"{where}: cannot import module {module_name!r} for python step: "
            f"{type(exc).__name__}: {exc}",
            field=field,
        ) from None
    real = getattr(module, "__name__", None)
    if not isinstance(real, str) or not module_allowed(real, allowed):
        raise _not_allowed(where, f"{module_name!r} imports as module {real!r}", allowed, field)
    target: Any = module
    for part in parts:
        try:
            target = getattr(target, part)
        except AttributeError:
            raise InvalidInputError(
                f"{where}: module {module_name!r} has no attribute {'.'.join(parts)!r}",
                field=field,
            ) from None
        if isinstance(target, types.ModuleType):
            raise _not_allowed(
                where, f"{path!r} goes through module {target.__name__!r}", allowed, field
            )
    if not callable(target):
        raise InvalidInputError(
            f"{where}: {path!r} is a {type(target).__name__}, not a callable", field=field
        )
    owner = getattr(target, "__module__", None)
    if not isinstance(owner, str) or not module_allowed(owner, allowed):
        raise _not_allowed(
            where, f"{path!r} is defined in module {owner!r}, not in an allowed one", allowed, field
        )
    return target  # type: ignore[no-any-return]


__all__ = ["check_function_name", "module_allowed", "resolve_function"]
