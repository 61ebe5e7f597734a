"""The serving part of ``modelplane demo``: deploy on the alias, serve over HTTP, hot swap,
batch scoring. A real ``modelplane serve`` process on a free loopback port, driven with httpx."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelplane.errors import IntegrityError, UnavailableError

if TYPE_CHECKING:
    from modelplane.context import Workspace

ENDPOINT = "breast-cancer"


@dataclass
class ServingReport:
    url: str = ""
    runtime: str = ""
    first_model: str = ""
    swapped_to: str = ""
    swap_seconds: float = 0.0
    requests_during_swap: int = 0
    failed_during_swap: int = 0
    native_ms: float = 0.0
    scored_rows: int = 0
    scored_file: str = ""
    notes: list[str] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DemoServer:
    """``modelplane serve`` as a child process on the workspace's settings."""

    def __init__(self, ws: Workspace) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        s = ws.settings
        cmd = [
            sys.executable,
            "-m",
            "modelplane",
            "--home",
            str(s.home),
            "--db-url",
            s.db_url,
            "--artifacts",
            s.artifacts,
            "serve",
            "--port",
            str(self.port),
            "--poll-interval",
            "0.25",
            "--drain-seconds",
            "0.5",
        ]
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise UnavailableError(f"the demo server exited: {err.strip()[-500:]}")
            try:
                if httpx.get(f"{self.url}/v2/health/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise UnavailableError("the demo server did not become ready in time")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def run_serving(
    mp: Any, ws: Workspace, X_test: Any, reference: Any, challenger: Any, begin: Any, done: Any
) -> ServingReport:
    """Deploy, serve, predict, hot-swap to ``challenger`` (a fitted model), batch-score."""
    import httpx
    import numpy as np

    report = ServingReport()
    begin("deploying and starting the server")
    ws.endpoints.deploy(ENDPOINT, {"model": f"models:/{ENDPOINT}@champion"})
    server = DemoServer(ws)
    try:
        server.wait_ready()
        report.url = server.url
        with httpx.Client(base_url=server.url, timeout=10) as http:
            meta = http.get(f"/v2/models/{ENDPOINT}").json()
            report.runtime = meta.get("platform", "?")
            done(
                f"serving {ENDPOINT} → models:/{ENDPOINT}@champion at {server.url} "
                f"(runtime {report.runtime})"
            )

            begin("predicting over HTTP")
            records = X_test.head(20).to_dict("records")
            t0 = time.perf_counter()
            answer = http.post(f"/v1/endpoints/{ENDPOINT}/predict", json={"inputs": records}).json()
            report.native_ms = (time.perf_counter() - t0) * 1000
            report.first_model = answer["model"]
            if not np.array_equal(np.asarray(answer["outputs"]), reference[:20]):
                raise IntegrityError("the server's answers differ from the registered model's")
            tensor = X_test.head(5).to_numpy(dtype="float64")
            v2 = http.post(
                f"/v2/models/{ENDPOINT}/infer",
                json={
                    "inputs": [
                        {
                            "name": "input-0",
                            "shape": list(tensor.shape),
                            "datatype": "FP64",
                            "data": tensor.ravel().tolist(),
                        }
                    ]
                },
            ).json()
            if v2["outputs"][0]["data"] != [int(v) for v in reference[:5]]:
                raise IntegrityError("the v2 answers differ from the registered model's")
            done(
                f"native JSON and Open Inference Protocol v2 agree with the model "
                f"({len(answer['prediction_ids'])} prediction ids, {report.native_ms:.1f} ms)"
            )

            begin("hot swap: moving @champion to a challenger under load")
            mv = mp.register_model(
                ENDPOINT, challenger, X_test.head(5), description="demo challenger (hot swap)"
            )
            one = {"inputs": records[:1]}
            statuses: list[int] = []
            t0 = time.perf_counter()
            mp.set_alias(ENDPOINT, "champion", mv.version, reason="demo: hot swap")
            model_now = report.first_model
            while model_now == report.first_model and time.perf_counter() - t0 < 15:
                r = http.post(f"/v1/endpoints/{ENDPOINT}/predict", json=one)
                statuses.append(r.status_code)
                if r.status_code == 200:
                    model_now = r.json()["model"]
            report.swap_seconds = time.perf_counter() - t0
            report.swapped_to = model_now
            report.requests_during_swap = len(statuses)
            report.failed_during_swap = sum(1 for s in statuses if s != 200)
            done(
                f"{report.first_model} → {report.swapped_to} in {report.swap_seconds:.1f}s, "
                f"{report.requests_during_swap} requests, {report.failed_during_swap} failed"
            )
    finally:
        server.stop()

    begin("batch scoring the test set")
    from modelplane.batch.scoring import score_file

    home = ws.settings.home
    source = Path(home) / "demo-test.parquet"
    target = Path(home) / "demo-scores.parquet"
    X_test.to_parquet(source, index=False)
    summary = score_file(ws, f"models:/{ENDPOINT}@champion", source, target, batch_size=50)
    report.scored_rows = summary.rows
    report.scored_file = str(target)
    done(f"scored {summary.rows} rows → {target.name} with {', '.join(summary.model_versions)}")
    return report
