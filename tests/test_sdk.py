"""The SDK surface: fixed names, a light import, configuration precedence."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import modelplane as mp
from modelplane.config import load_settings
from modelplane.errors import InvalidInputError

FIXED = {
    "configure",
    "register_dataset",
    "start_run",
    "register_model",
    "search_runs",
    "set_alias",
    "load_model",
}

PUBLIC = {
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
    "delete_model_version",
    "delete_model",
    "delete_run",
    "restore_model",
    "restore_model_version",
    "restore_run",
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
    "search_runs",
    "set_alias",
    "start_run",
    "update_model_version",
    "workspace",
}


def test_fixed_sdk_names_exist() -> None:
    assert set(mp.__all__) >= FIXED
    for name in mp.__all__:
        assert getattr(mp, name) is not None
    with pytest.raises(AttributeError):
        _ = mp.nosuch  # type: ignore[attr-defined]


def test_public_names_are_pinned() -> None:
    """Adding to (or removing from) the public surface is a decision: update PUBLIC with it."""
    assert set(mp.__all__) == PUBLIC
    assert len(mp.__all__) == len(PUBLIC)


def test_import_is_light() -> None:
    code = (
        "import sys, json, modelplane; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pandas', 'sklearn', 'numpy', 'sqlalchemy', 'pyarrow', 'alembic'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_settings_precedence(tmp_path: Path) -> None:
    (tmp_path / "modelplane.toml").write_text(
        '[modelplane]\nhome = "from-toml"\nartifacts = "s3://bucket/p"\n'
    )
    s = load_settings(env={}, cwd=tmp_path)
    assert s.home == tmp_path / "from-toml"
    assert s.db_url == f"sqlite:///{tmp_path / 'from-toml' / 'modelplane.db'}"
    assert s.artifacts == "s3://bucket/p"
    s = load_settings(env={"MODELPLANE_HOME": str(tmp_path / "env")}, cwd=tmp_path)
    assert s.home == tmp_path / "env"
    s = load_settings(env={"MODELPLANE_HOME": "x"}, cwd=tmp_path, home=tmp_path / "arg")
    assert s.home == tmp_path / "arg"
    assert s.auth == "auto"


@pytest.mark.parametrize(
    ("toml", "env"),
    [
        ("not = [valid", {}),
        ("[modelplane]\nnosuch = 1\n", {}),
        ("", {"MODELPLANE_AUTH": "maybe"}),
    ],
)
def test_bad_settings(tmp_path: Path, toml: str, env: dict[str, str]) -> None:
    (tmp_path / "modelplane.toml").write_text(toml)
    with pytest.raises(InvalidInputError):
        load_settings(env=env, cwd=tmp_path)


def test_bad_db_url(home: Path) -> None:
    ws = mp.configure(home=home, db_url="mysql://nope")
    with pytest.raises(InvalidInputError):
        _ = ws.meta


def test_workspace_function_survives_submodule_imports(sqlite_ws: mp.Workspace) -> None:
    import modelplane.context
    import modelplane.sdk  # noqa: F401

    assert mp.workspace() is sqlite_ws
