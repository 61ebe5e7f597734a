"""Register the peer harness's shared model and deploy it as an endpoint (benchmark set-up).

    python bench/serving/setup_endpoint.py HOME JOBLIB_FILE WORK_DIR ENDPOINT

Reads the training matrix ``WORK_DIR/models/X.npy`` for the input example (columns f0..f19, the
names the harness's ``records`` payloads use), registers the joblib model as a new version of
model ENDPOINT, points ``@champion`` at it and deploys ENDPOINT → ``models:/ENDPOINT@champion``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

import modelplane as mp


def main() -> None:
    home, joblib_file, work, endpoint = sys.argv[1:5]
    X = np.load(Path(work) / "models" / "X.npy")
    example = pd.DataFrame(X[:100], columns=[f"f{i}" for i in range(X.shape[1])])
    model = joblib.load(joblib_file)
    ws = mp.configure(home=home)
    mv = mp.register_model(endpoint, model, example, description="peer benchmark model")
    mp.set_alias(endpoint, "champion", mv.version)
    ws.endpoints.deploy(endpoint, {"model": f"models:/{endpoint}@champion"})
    print(f"{endpoint}: models:/{endpoint}/{mv.version} deployed")


if __name__ == "__main__":
    main()
