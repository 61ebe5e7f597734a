"""Deleting and restoring runs, model versions and models through the SDK, on SQLite and
PostgreSQL: soft deletion, the 409 refusals naming the alias or endpoint, audit entries with the
actor."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import modelplane as mp
from modelplane.errors import ConflictError, InvalidInputError, NotFoundError


def _model() -> tuple[Any, pd.DataFrame]:
    from sklearn.linear_model import LogisticRegression

    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
    return LogisticRegression().fit(X, np.array([0, 0, 1, 1])), X


def _actions(target: str) -> list[tuple[str, str]]:
    return [(e["action"], e["actor"]) for e in mp.audit_list(target=target)]


# -- runs -----------------------------------------------------------------------------------------


def test_deleted_run_leaves_searches_and_comes_back(ws: mp.Workspace) -> None:
    with mp.start_run("life") as keep:
        keep.log_metric("auc", 0.9)
    with mp.start_run("life") as gone:
        gone.log_metric("auc", 0.8)
        gone.log_params({"C": 1.0})

    mp.delete_run(gone.id)
    assert list(mp.search_runs("life")["run_id"]) == [keep.id]
    assert [r.id for r in mp.list_runs("life", "metrics.auc > 0.5")] == [keep.id]
    assert list(mp.search_runs("life", lifecycle="deleted")["run_id"]) == [gone.id]
    assert set(mp.search_runs("life", lifecycle="all")["run_id"]) == {keep.id, gone.id}
    assert list(mp.search_runs("life", lifecycle="DELETED_ONLY")["run_id"]) == [gone.id]

    info = mp.get_run(gone.id)  # still readable by id, with everything it logged
    assert info.lifecycle == "deleted" and info.deleted_at is not None
    assert info.params == {"C": 1.0} and info.metrics == {"auc": 0.8}
    mp.delete_run(gone.id)  # deleting again changes nothing
    with pytest.raises(ConflictError, match="is deleted"):
        gone.log_metric("auc", 0.1)
    with pytest.raises(ConflictError, match="restore it first"):
        gone.set_tag("k", "v")
    with pytest.raises(ConflictError):
        gone.log_params({"D": 2})

    restored = mp.restore_run(gone.id)
    assert restored.lifecycle == "active" and restored.deleted_at is None
    assert set(mp.search_runs("life")["run_id"]) == {keep.id, gone.id}
    gone.log_metric("auc", 0.85)  # writable again
    assert _actions(f"runs/{gone.id}") == [("run.restore", "tester"), ("run.delete", "tester")]


def test_run_lifecycle_bad_input(ws: mp.Workspace) -> None:
    with pytest.raises(NotFoundError) as err:
        mp.delete_run("f" * 32)
    assert err.value.field == "run_id"
    with pytest.raises(NotFoundError):
        mp.restore_run("0" * 32)
    for bad in ("", "x" * 33, "../etc"):
        with pytest.raises((InvalidInputError, NotFoundError)):
            mp.delete_run(bad)
    with pytest.raises(InvalidInputError) as err:
        mp.search_runs(lifecycle="gone")
    assert err.value.field == "lifecycle"


# -- model versions and models ---------------------------------------------------------------------


def test_version_delete_restore_and_the_refusals(ws: mp.Workspace) -> None:
    model, X = _model()
    for _ in range(3):
        mp.register_model("life", model, X)
    mp.set_alias("life", "champion", 1)
    mp.deploy("life-ep", "models:/life/2")

    with pytest.raises(ConflictError, match="@champion") as err:
        mp.delete_model_version("life", 1)
    assert err.value.field == "version"
    with pytest.raises(ConflictError, match="endpoint life-ep"):
        mp.delete_model_version("life", 2)

    mp.delete_model_version("life", 3)
    assert [v.version for v in mp.list_model_versions("life")] == [1, 2]
    assert mp.get_model("life").latest_version == 2
    with pytest.raises(NotFoundError, match="is deleted"):
        mp.get_model_version("life", 3)
    with pytest.raises(NotFoundError):
        mp.load_model("models:/life/3")
    with pytest.raises(NotFoundError, match="deleted"):
        mp.set_alias("life", "challenger", 3)
    # an endpoint following the latest version holds the latest one
    mp.deploy("latest-ep", "models:/life")
    with pytest.raises(ConflictError, match="latest-ep"):
        mp.delete_model_version("life", 2)

    assert mp.restore_model_version("life", 3).version == 3
    assert mp.get_model("life").latest_version == 3
    assert mp.load_model("models:/life/3").version.version == 3
    assert _actions("models/life/3")[:2] == [
        ("model_version.restore", "tester"),
        ("model_version.delete", "tester"),
    ]
    assert mp.register_model("life", model, X).version == 4  # numbers are never reused


def test_model_delete_takes_its_versions_and_restore_brings_them_back(ws: mp.Workspace) -> None:
    model, X = _model()
    for _ in range(3):
        mp.register_model("whole", model, X)
    mp.delete_model_version("whole", 1)  # deleted before the model: stays deleted
    mp.set_alias("whole", "champion", 2)
    with pytest.raises(ConflictError, match=r"models:/whole/2 is used by alias @champion"):
        mp.delete_model("whole")
    mp.delete_alias("whole", "champion")
    mp.deploy("whole-ep", "models:/whole/3")
    with pytest.raises(ConflictError, match="whole-ep"):
        mp.delete_model("whole")
    mp.delete_endpoint("whole-ep")

    mp.delete_model("whole")
    assert "whole" not in [m.name for m in mp.list_models()]
    with pytest.raises(NotFoundError, match="is deleted"):
        mp.get_model("whole")
    with pytest.raises(NotFoundError):
        mp.load_model("models:/whole/2")
    with pytest.raises(ConflictError, match="restore it"):
        mp.register_model("whole", model, X)

    restored = mp.restore_model("whole")
    assert restored.latest_version == 3
    assert [v.version for v in mp.list_model_versions("whole")] == [2, 3]
    assert mp.restore_model_version("whole", 1).version == 1
    entries = mp.audit_list(target="models/whole", action="model.delete")
    assert entries[0]["actor"] == "tester" and entries[0]["before"]["versions"] == [2, 3]
    assert mp.audit_list(target="models/whole", action="model.restore")[0]["after"] == {
        "lifecycle": "active",
        "versions": [2, 3],
    }


def test_model_lifecycle_bad_input(ws: mp.Workspace) -> None:
    with pytest.raises(NotFoundError):
        mp.delete_model("nope")
    with pytest.raises(NotFoundError):
        mp.restore_model("nope")
    with pytest.raises(InvalidInputError) as err:
        mp.delete_model("../etc")
    assert err.value.field == "model name"
    model, X = _model()
    mp.register_model("small", model, X)
    with pytest.raises(NotFoundError):
        mp.delete_model_version("small", 7)
    for bad in (0, -1, True, "1"):
        with pytest.raises(InvalidInputError):
            mp.delete_model_version("small", bad)  # type: ignore[arg-type]


def test_deleted_models_and_versions_are_listed_when_asked(ws: mp.Workspace) -> None:
    model, X = _model()
    for _ in range(3):
        mp.register_model("listed", model, X)
    mp.register_model("kept", model, X)
    mp.delete_model_version("listed", 1)  # on its own, before the model

    versions = mp.list_model_versions("listed", lifecycle="deleted")
    assert [(v.version, v.lifecycle) for v in versions] == [(1, "deleted")]
    assert versions[0].deleted_at is not None
    assert versions[0].to_dict()["lifecycle"] == "deleted" and versions[0].to_dict()["deleted_at"]
    every = mp.list_model_versions("listed", lifecycle="all")
    assert [(v.version, v.lifecycle) for v in every] == [
        (1, "deleted"),
        (2, "active"),
        (3, "active"),
    ]
    assert [v.version for v in mp.list_model_versions("listed")] == [2, 3]
    assert mp.list_model_versions("listed")[0].to_dict()["lifecycle"] == "active"
    assert mp.list_model_versions("listed")[0].to_dict()["deleted_at"] is None

    mp.delete_model("listed")
    assert [m.name for m in mp.list_models()] == ["kept"]
    assert mp.list_models()[0].to_dict()["lifecycle"] == "active"
    (gone,) = mp.list_models(lifecycle="deleted")
    assert gone.name == "listed" and gone.lifecycle == "deleted" and gone.deleted_at is not None
    # the latest version it has once restored (v1 was deleted on its own: it stays deleted)
    assert gone.latest_version == 3
    assert gone.to_dict()["lifecycle"] == "deleted" and gone.to_dict()["deleted_at"]
    assert [(m.name, m.lifecycle) for m in mp.list_models(lifecycle="all")] == [
        ("kept", "active"),
        ("listed", "deleted"),
    ]
    assert mp.list_models(lifecycle="DELETED_ONLY") == [gone]
    # a deleted model's versions are listed when deleted ones are asked for
    assert [v.version for v in mp.list_model_versions("listed", lifecycle="deleted")] == [1, 2, 3]
    assert [v.version for v in mp.list_model_versions("listed", lifecycle="all")] == [1, 2, 3]
    with pytest.raises(NotFoundError, match="is deleted"):
        mp.list_model_versions("listed")

    mp.restore_model("listed")
    assert mp.list_models(lifecycle="deleted") == []
    assert [m.name for m in mp.list_models()] == ["kept", "listed"]
    assert [v.version for v in mp.list_model_versions("listed", lifecycle="deleted")] == [1]
    mp.restore_model_version("listed", 1)
    assert mp.list_model_versions("listed", lifecycle="deleted") == []
    assert [v.lifecycle for v in mp.list_model_versions("listed", lifecycle="all")] == [
        "active"
    ] * 3


def test_model_listing_bad_lifecycle(ws: mp.Workspace) -> None:
    model, X = _model()
    mp.register_model("small", model, X)
    for bad in ("gone", "", None, 1):
        with pytest.raises(InvalidInputError) as err:
            mp.list_models(lifecycle=bad)  # type: ignore[arg-type]
        assert err.value.field == "lifecycle"
        with pytest.raises(InvalidInputError) as err:
            mp.list_model_versions("small", lifecycle=bad)  # type: ignore[arg-type]
        assert err.value.field == "lifecycle"
    with pytest.raises(NotFoundError):
        mp.list_model_versions("nope", lifecycle="all")
