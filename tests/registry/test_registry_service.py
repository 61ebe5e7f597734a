"""The model registry through the SDK, on SQLite and PostgreSQL (and S3 for artifacts)."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import modelplane as mp
from modelplane.errors import (
    ConflictError,
    FlavorError,
    IntegrityError,
    InvalidInputError,
    NotFoundError,
)


@pytest.fixture
def data() -> tuple[pd.DataFrame, np.ndarray]:
    X, y = make_classification(n_samples=300, n_features=5, random_state=0)
    return pd.DataFrame(X, columns=[f"f{i}" for i in range(5)]), y


def fit(data: tuple[pd.DataFrame, np.ndarray], C: float = 1.0) -> object:
    X, y = data
    return make_pipeline(StandardScaler(), LogisticRegression(C=C)).fit(X, y)


def test_register_versions_signature_lineage_card(ws: mp.Workspace, data) -> None:
    X, y = data
    ds = mp.register_dataset("train", X.assign(y=y))
    with mp.start_run("exp", "fit") as run:
        run.log_params({"C": 1.0})
        mv = mp.register_model(
            "churn",
            fit(data),
            X.head(),
            run=run,
            datasets=[ds],
            metrics={"auc": 0.93},
            tags={"owner": "risk"},
            description="Churn model.",
        )
    assert (mv.version, mv.flavor, mv.uri) == (1, "sklearn", "models:/churn/1")
    assert [c["name"] for c in mv.signature["inputs"]] == [f"f{i}" for i in range(5)]
    assert mv.signature["output_kind"] == "classification"
    assert mv.params == {"C": 1.0}  # taken from the run, with its type
    assert mv.metrics == {"auc": 0.93}
    assert mv.run_id == run.id
    assert mv.datasets == [{"name": "train", "version": 1, "content_hash": ds.content_hash}]
    assert all(len(sha) == 64 for sha in mv.files.values())
    for section in (
        "# Model card: churn v1",
        "## Inputs",
        "## Metrics",
        "## Lineage",
        "Churn model.",
    ):
        assert section in mv.model_card
    assert run.id in mv.model_card and ds.content_hash[:12] in mv.model_card
    assert mp.get_run(run.id).datasets == [{"name": "train", "version": 1, "context": "training"}]

    mv2 = mp.register_model("churn", fit(data, C=0.1), X.head())
    assert mv2.version == 2
    model = mp.get_model("churn")
    assert model.latest_version == 2
    assert [m.name for m in mp.list_models()] == ["churn"]


def test_aliases_history_and_uris(ws: mp.Workspace, data) -> None:
    X, _ = data
    m1, m2 = fit(data, 1.0), fit(data, 0.001)
    mp.register_model("churn", m1, X.head())
    mp.register_model("churn", m2, X.head())
    mp.set_alias("churn", "champion", 1)
    mp.set_alias("churn", "challenger", 2)
    np.testing.assert_array_equal(mp.load_model("models:/churn@champion").predict(X), m1.predict(X))
    mp.set_alias("churn", "champion", 2, reason="better auc")
    loaded = mp.load_model("models:/churn@champion")
    assert loaded.version.version == 2
    np.testing.assert_array_equal(loaded.predict_proba(X), m2.predict_proba(X))
    np.testing.assert_array_equal(mp.load_model("models:/churn/1").predict(X), m1.predict(X))
    assert mp.load_model("models:/churn").version.version == 2
    assert mp.load_model("models:/churn@latest").version.version == 2
    assert mp.get_model_version("models:/churn@champion").aliases == ["challenger", "champion"]
    history = ws.registry.alias_history("churn", "champion")
    assert [(h.old_version, h.new_version, h.reason) for h in history] == [
        (None, 1, None),
        (1, 2, "better auc"),
    ]
    assert history[0].actor == "tester"
    mp.delete_alias("churn", "challenger")
    assert mp.get_model("churn").aliases == {"champion": 2}
    audit = ws.audit.list(target="models/churn@champion")
    assert [(e.before, e.after["version"]) for e in reversed(audit)] == [
        (None, 1),
        ({"version": 1}, 2),
    ]
    assert ws.audit.verify().ok


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("churn", "latest", 1), InvalidInputError),
        (("churn", "../x", 1), InvalidInputError),
        (("churn", "a@b", 1), InvalidInputError),
        (("churn", "champion", 9), NotFoundError),
        (("churn", "champion", 0), InvalidInputError),
        (("churn", "champion", "1"), InvalidInputError),
        (("nosuch", "champion", 1), NotFoundError),
    ],
)
def test_bad_alias_moves(ws: mp.Workspace, data, args, error) -> None:
    mp.register_model("churn", fit(data), data[0].head())
    with pytest.raises(error):
        mp.set_alias(*args)


@pytest.mark.parametrize(
    "uri",
    [
        "file:///etc/passwd",
        "models:/churn/0",
        "models:/churn/abc",
        "models:/../etc/1",
        "models:/churn@",
        "s3://bucket/model",
        "http://169.254.169.254/latest",
        "models:/churn/1/extra",
        "",
    ],
)
def test_bad_model_uris(ws: mp.Workspace, data, uri: str) -> None:
    mp.register_model("churn", fit(data), data[0].head())
    with pytest.raises(InvalidInputError):
        mp.load_model(uri)


@pytest.mark.parametrize(
    "source", ["file:///etc/passwd", "/etc/passwd", "/etc", "models:/x/1", "http://x/model", "~"]
)
def test_hostile_model_sources(ws: mp.Workspace, source: str) -> None:
    with pytest.raises(InvalidInputError):  # FlavorError is an InvalidInputError
        mp.register_model("m", source)


def test_unsupported_objects(ws: mp.Workspace) -> None:
    with pytest.raises(FlavorError):
        mp.register_model("m", 42)
    with pytest.raises(InvalidInputError):
        mp.register_model("bad name", LogisticRegression())


def test_tampered_artifact_is_never_deserialised(
    sqlite_ws: mp.Workspace, data, tmp_path: Path
) -> None:
    mv = mp.register_model("churn", fit(data), data[0].head())
    sqlite_ws.registry.clear_cache()
    (path_key,) = [k for k in mv.files if k.endswith(".joblib")]
    stored = Path(sqlite_ws.artifacts.uri(f"{mv.artifact_key}/{path_key}").removeprefix("file://"))
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (Path.touch, (marker,))

    stored.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(IntegrityError, match="checksum"):
        mp.load_model("models:/churn/1")
    assert not marker.exists()


def test_tampered_cache_is_refetched(sqlite_ws: mp.Workspace, data) -> None:
    model = fit(data)
    mp.register_model("churn", model, data[0].head())
    mp.load_model("models:/churn/1")
    cached = next((sqlite_ws.settings.home / "cache" / "models").rglob("*.joblib"))
    cached.write_bytes(b"garbage")
    loaded = mp.load_model("models:/churn/1")  # the cache copy is replaced by a verified one
    np.testing.assert_array_equal(loaded.predict(data[0]), model.predict(data[0]))


def test_delete_version_guarded_by_alias(ws: mp.Workspace, data) -> None:
    mp.register_model("churn", fit(data), data[0].head())
    mp.register_model("churn", fit(data), data[0].head())
    mp.set_alias("churn", "champion", 1)
    with pytest.raises(ConflictError, match="champion"):
        ws.registry.delete_version("churn", 1)
    ws.registry.delete_version("churn", 2)
    with pytest.raises(NotFoundError):
        mp.get_model_version("churn", 2)
    assert mp.register_model("churn", fit(data), data[0].head()).version == 3
    updated = ws.registry.update_version("churn", 1, description="new", tags={"k": "v"})
    assert (updated.description, updated.tags) == ("new", {"k": "v"})
    actions = {e.action for e in ws.audit.list(target="models/churn")}
    assert {
        "model.create",
        "model.register",
        "alias.set",
        "model_version.delete",
        "model_version.update",
    } <= actions


def test_s3_artifacts_round_trip(home: Path, s3_root: str, data) -> None:
    ws = mp.configure(home=home, artifacts=s3_root)
    model = fit(data)
    mv = mp.register_model("churn", model, data[0].head())
    assert ws.artifacts.uri(mv.artifact_key).startswith("s3://")
    ws.registry.clear_cache()
    np.testing.assert_array_equal(
        mp.load_model("models:/churn/1").predict(data[0]), model.predict(data[0])
    )
    ds = mp.register_dataset("d", data[0])
    pd.testing.assert_frame_equal(mp.load_dataset("d"), data[0])
    assert ds.version == 1


CONCURRENT = textwrap.dedent(
    """
    import sys
    import modelplane as mp
    from sklearn.linear_model import LinearRegression
    mp.configure(home=sys.argv[1], db_url=sys.argv[2])
    for _ in range(5):
        mp.register_model("shared", LinearRegression().fit([[0], [1]], [0, 1]))
    """
)


@pytest.mark.slow
def test_concurrent_registrations_get_distinct_versions(
    home: Path, db_url: str, tmp_path: Path
) -> None:
    script = tmp_path / "reg.py"
    script.write_text(CONCURRENT)
    procs = [
        subprocess.Popen([sys.executable, str(script), str(home), db_url], stderr=subprocess.PIPE)
        for _ in range(3)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()[-2000:]
    ws = mp.configure(home=home, db_url=db_url)
    assert [v.version for v in ws.registry.versions("shared")] == list(range(1, 16))
    assert ws.audit.verify().ok
