"""``docs/sdk.md`` is what ``scripts/gen_sdk_reference.py`` generates from the SDK's docstrings."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import modelplane as mp

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "gen_sdk_reference.py"


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_sdk_reference", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_sdk_md_is_up_to_date() -> None:
    expected = generator().render()
    current = (ROOT / "docs" / "sdk.md").read_text(encoding="utf-8")
    assert current == expected, (
        "docs/sdk.md is out of date with the SDK's docstrings: run "
        "'.venv/bin/python scripts/gen_sdk_reference.py' and commit docs/sdk.md"
    )


def test_every_public_name_is_documented() -> None:
    text = generator().render()
    for name in mp.__all__:
        if not name.startswith("_"):
            assert f"`mp.{name}" in text, name
    assert "*(undocumented)*" not in text, "give every public name a docstring"
