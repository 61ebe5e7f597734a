"""``modelplane deploy`` and ``endpoints list|show`` for the three config forms: a model, a graph
and a traffic policy over named variants."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def test_list_names_variants_of_a_traffic_config(cli: Any, populated: Any, tmp_path: Path) -> None:
    model = populated.model
    assert cli("deploy", "plain", f"models:/{model}@champion").exit_code == 0
    config = tmp_path / "blue.json"
    config.write_text(
        json.dumps(
            {
                "traffic": {
                    "policy": "single",
                    "variants": [{"name": "blue", "model": f"models:/{model}/1"}],
                }
            }
        )
    )
    done = cli("deploy", "blue", "--config", str(config))
    assert done.exit_code == 0, done.output
    assert f"single: blue=models:/{model}/1" in done.output
    listed = cli("endpoints", "list")
    assert listed.exit_code == 0, listed.output
    assert f"models:/{model}@champion" in listed.output
    assert "blue=models:/" in listed.output
    shown = cli.json("endpoints", "show", "blue", "--json")
    assert shown["config"]["traffic"]["variants"][0]["name"] == "blue"


def test_a_bad_variant_config_is_one_line_and_exit_2(
    cli: Any, populated: Any, tmp_path: Path
) -> None:
    config = tmp_path / "bad.json"
    config.write_text(
        json.dumps({"traffic": {"variants": [{"name": "a b", "model": "models:/x/1"}]}})
    )
    done = cli.subprocess("deploy", "bad", "--config", str(config))
    assert done.returncode == 2
    cli.one_error_line(done.stderr, "traffic.variants.0.name")
