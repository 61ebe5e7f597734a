"""What the SDK returns prints as one short line (no 18 KB profile), with ISO 8601 times."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

import modelplane as mp

SHORT = 300
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def one_short_line(obj: Any, *contains: str) -> str:
    text = repr(obj)
    assert "\n" not in text, text
    assert len(text) <= SHORT, (len(text), text)
    for part in contains:
        assert part in text, (part, text)
    return text


def test_records_print_one_short_line(sqlite_ws: Any) -> None:
    rng = np.random.default_rng(0)
    wide = pd.DataFrame(rng.normal(size=(500, 40)), columns=[f"feature_{i}" for i in range(40)])
    wide["target"] = (wide["feature_0"] > 0).astype(int)
    ds = mp.register_dataset("churn", wide)
    assert len(str(ds.profile)) > 5_000  # the profile is big; the repr leaves it out
    text = one_short_line(ds, "DatasetVersion(", "name='churn'", "version=1", "rows=500")
    assert "columns=41" in text and ds.content_hash[:12] in text and "…" in text
    assert ISO.search(text)

    with mp.start_run(experiment="churn") as run:
        run.log_params({f"p{i}": i for i in range(50)})
        run.log_metrics({f"m{i}": float(i) for i in range(50)})
    one_short_line(run, run.id)
    info = mp.get_run(run.id)
    text = one_short_line(info, "RunInfo(", run.id, "experiment='churn'", "params=50")
    assert ISO.search(text)

    X = wide.drop(columns="target")
    model = LogisticRegression(max_iter=200).fit(X, wide["target"])
    mv = mp.register_model("churn", model, X.head(5), run=run, datasets=[ds])
    mp.set_alias("churn", "champion", mv.version)
    mv = mp.get_model_version("models:/churn@champion")
    text = one_short_line(mv, "ModelVersion(", "name='churn'", "version=1", "'champion'")
    assert ISO.search(text)
    one_short_line(mp.get_model("churn"), "RegisteredModel(", "latest_version=1")
    one_short_line(mp.load_model("models:/churn/1"))

    mp.deploy("churn-ep", "models:/churn@champion")
    endpoint = sqlite_ws.endpoints.get("churn-ep")
    text = one_short_line(endpoint, "Endpoint(", "name='churn-ep'", "models:/churn@champion")
    assert ISO.search(text)
