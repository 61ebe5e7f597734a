"""The SDK exists three times — the local client (``LocalClient``) and the module-level
functions over it, and the remote client (``mp.Client``) — and ``Operations`` declares what all
of them offer. These tests fail when an operation exists on one side only, or when a signature
(parameter names, kinds, defaults) differs from the declared one."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

import modelplane as mp
import modelplane.sdk
from modelplane.client import Client
from modelplane.core.operations import Operations
from modelplane.sdk import LocalClient

ONE_SIDED: dict[str, dict[str, str]] = {
    "Client": {
        "predict": "calls an endpoint's data plane, which only a running server has",
        "close": "closes the HTTP connection pool",
        "url": "the server's address",
    },
    "LocalClient": {},
    "module": {
        "configure": "chooses the workspace the module-level functions run over",
        "workspace": "that default workspace",
    },
}
"""Public names that are not operations, per side, with the reason they cannot be shared."""

Shape = list[tuple[str, Any, Any]]


def operations(protocol: type) -> set[str]:
    return {n for n, v in vars(protocol).items() if not n.startswith("_") and callable(v)}


def shape(function: Callable[..., Any], *, method: bool) -> Shape:
    """Names, kinds and defaults of the parameters (annotations may narrow per side)."""
    params = list(inspect.signature(function).parameters.values())
    return [(p.name, p.kind, p.default) for p in params[1 if method else 0 :]]


def class_members(cls: type) -> set[str]:
    return {n for n in dir(cls) if not n.startswith("_")}


def unimplemented(cls: type, protocol: type) -> set[str]:
    """Operations ``cls`` only inherits from the protocol (whose bodies do nothing)."""
    owner = {n: next(k for k in cls.__mro__ if n in vars(k)) for n in operations(protocol)}
    return {n for n, k in owner.items() if k is protocol}


def module_functions() -> set[str]:
    """The SDK's module-level functions (those defined in ``modelplane.sdk``)."""
    return {
        n
        for n, v in vars(modelplane.sdk).items()
        if inspect.isfunction(v) and v.__module__ == "modelplane.sdk" and not n.startswith("_")
    }


SIDES: dict[str, set[str]] = {
    "Client": class_members(Client),
    "LocalClient": class_members(LocalClient),
    "module": module_functions(),
}
OPERATIONS = sorted(operations(Operations))


@pytest.mark.parametrize("side", sorted(SIDES))
def test_every_side_has_exactly_the_operations(side: str) -> None:
    extra = SIDES[side] - set(OPERATIONS) - set(ONE_SIDED[side])
    missing = set(OPERATIONS) - SIDES[side]
    assert not extra, f"{side} has operations Operations does not declare: {sorted(extra)}"
    assert not missing, f"{side} lacks operations: {sorted(missing)}"
    stale = set(ONE_SIDED[side]) - SIDES[side]
    assert not stale, f"allowlisted for {side} but gone: {sorted(stale)}"


def test_module_functions_are_exported() -> None:
    exported = {n for n in mp.__all__ if mp._LAZY.get(n) == "modelplane.sdk" and n[0].islower()}
    assert exported == SIDES["module"]
    for name in exported:
        assert getattr(mp, name) is getattr(modelplane.sdk, name)


@pytest.mark.parametrize("cls", [Client, LocalClient], ids=lambda c: c.__name__)
def test_every_operation_is_implemented(cls: type) -> None:
    assert not unimplemented(cls, Operations)


@pytest.mark.parametrize("name", OPERATIONS)
def test_signatures_agree(name: str) -> None:
    declared = shape(getattr(Operations, name), method=True)
    assert shape(getattr(LocalClient, name), method=True) == declared, "LocalClient"
    assert shape(getattr(Client, name), method=True) == declared, "Client"
    assert shape(getattr(modelplane.sdk, name), method=False) == declared, f"mp.{name}"


def test_the_checks_catch_drift() -> None:
    """A side that lacks an operation, adds one, or spells a parameter differently is caught."""

    class Declared(Operations):
        def get_model(self, name: str) -> Any: ...

    class Drifted(Declared):
        def get_model(self, model_name: str) -> Any: ...  # type: ignore[override]

        def rename_model(self, name: str, new: str) -> None: ...

    assert "list_models" in unimplemented(Declared, Operations)
    assert class_members(Drifted) - set(OPERATIONS) == {"rename_model"}
    assert shape(Drifted.get_model, method=True) != shape(Operations.get_model, method=True)
