"""modelplane: ML infrastructure in one package.

The SDK surface is listed in ``__all__``; names resolve lazily so ``import modelplane`` stays
light (no pandas, scikit-learn or SQLAlchemy at import time).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "configure": "modelplane.sdk",
    "workspace": "modelplane.sdk",
    "register_dataset": "modelplane.sdk",
    "get_dataset": "modelplane.sdk",
    "load_dataset": "modelplane.sdk",
    "list_datasets": "modelplane.sdk",
    "start_run": "modelplane.sdk",
    "get_run": "modelplane.sdk",
    "search_runs": "modelplane.sdk",
    "autolog": "modelplane.sdk.autolog",
    "register_model": "modelplane.sdk",
    "import_model": "modelplane.sdk",
    "get_model": "modelplane.sdk",
    "get_model_version": "modelplane.sdk",
    "list_models": "modelplane.sdk",
    "set_alias": "modelplane.sdk",
    "delete_alias": "modelplane.sdk",
    "load_model": "modelplane.sdk",
    "list_runs": "modelplane.sdk",
    "list_model_versions": "modelplane.sdk",
    "update_model_version": "modelplane.sdk",
    "delete_model_version": "modelplane.sdk",
    "restore_model_version": "modelplane.sdk",
    "delete_model": "modelplane.sdk",
    "restore_model": "modelplane.sdk",
    "delete_run": "modelplane.sdk",
    "restore_run": "modelplane.sdk",
    "alias_history": "modelplane.sdk",
    "deploy": "modelplane.sdk",
    "get_endpoint": "modelplane.sdk",
    "list_endpoints": "modelplane.sdk",
    "delete_endpoint": "modelplane.sdk",
    "audit_list": "modelplane.sdk",
    "audit_verify": "modelplane.sdk",
    "LocalClient": "modelplane.sdk",
    "Client": "modelplane.client",
    "Operations": "modelplane.core.operations",
    "Workspace": "modelplane.context",
    "Settings": "modelplane.config",
    "ModelplaneError": "modelplane.errors",
    "InvalidInputError": "modelplane.errors",
    "NotFoundError": "modelplane.errors",
    "ConflictError": "modelplane.errors",
    "IntegrityError": "modelplane.errors",
}

__all__ = [
    "Client",
    "ConflictError",
    "IntegrityError",
    "InvalidInputError",
    "LocalClient",
    "ModelplaneError",
    "NotFoundError",
    "Operations",
    "Settings",
    "Workspace",
    "__version__",
    "alias_history",
    "audit_list",
    "audit_verify",
    "autolog",
    "configure",
    "delete_alias",
    "delete_endpoint",
    "delete_model",
    "delete_model_version",
    "delete_run",
    "deploy",
    "get_dataset",
    "get_endpoint",
    "get_model",
    "get_model_version",
    "get_run",
    "import_model",
    "list_datasets",
    "list_endpoints",
    "list_model_versions",
    "list_models",
    "list_runs",
    "load_dataset",
    "load_model",
    "register_dataset",
    "register_model",
    "restore_model",
    "restore_model_version",
    "restore_run",
    "search_runs",
    "set_alias",
    "start_run",
    "update_model_version",
    "workspace",
]

if TYPE_CHECKING:
    from modelplane.client import Client
    from modelplane.config import Settings
    from modelplane.context import Workspace
    from modelplane.core.operations import Operations
    from modelplane.errors import (
        ConflictError,
        IntegrityError,
        InvalidInputError,
        ModelplaneError,
        NotFoundError,
    )
    from modelplane.sdk import (
        LocalClient,
        alias_history,
        audit_list,
        audit_verify,
        autolog,
        configure,
        delete_alias,
        delete_endpoint,
        delete_model,
        delete_model_version,
        delete_run,
        deploy,
        get_dataset,
        get_endpoint,
        get_model,
        get_model_version,
        get_run,
        import_model,
        list_datasets,
        list_endpoints,
        list_model_versions,
        list_models,
        list_runs,
        load_dataset,
        load_model,
        register_dataset,
        register_model,
        restore_model,
        restore_model_version,
        restore_run,
        search_runs,
        set_alias,
        start_run,
        update_model_version,
        workspace,
    )


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'modelplane' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
