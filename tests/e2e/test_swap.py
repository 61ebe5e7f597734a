"""Hot swap on the real server: alias moves under continuous load without a single failed answer,
versions that cannot be loaded leave the old one serving (status, audit log), and endpoints
deployed or deleted with the CLI while the server runs."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import Models, Served, records, run_cli, wait_for


def deploy_endpoints(ws: Any, models: Models) -> None:
    example = models.rows(50)
    for name in ("m", "b"):
        ws.registry.register_model(name, models.lr, example)  # v1
        ws.registry.set_alias(name, "champion", 1)
        ws.endpoints.deploy(name, {"model": f"models:/{name}@champion"})
    ws.registry.register_model("d", models.lr, example)
    ws.registry.set_alias("d", "champion", 1)
    ws.endpoints.deploy("d", {"model": "models:/d@champion", "accelerate": False})


@dataclass
class Load:
    """Threads posting predictions back to back; every answer is kept in order per thread."""

    server: Served
    endpoint: str
    payload: dict[str, Any]
    threads: int = 2
    answers: list[list[tuple[int, str | None]]] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> Load:
        for _ in range(self.threads):
            mine: list[tuple[int, str | None]] = []
            self.answers.append(mine)
            t = threading.Thread(target=self._run, args=(mine,), daemon=True)
            self._workers.append(t)
            t.start()
        return self

    def _run(self, out: list[tuple[int, str | None]]) -> None:
        url = f"/v1/endpoints/{self.endpoint}/predict"
        try:
            with self.server.client() as client:
                while not self._stop.is_set():
                    r = client.post(url, json=self.payload)
                    model = r.json().get("model") if r.status_code == 200 else r.text
                    out.append((r.status_code, model))
        except BaseException as exc:  # a transport error is a failed answer too
            self.errors.append(exc)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._workers:
            t.join(30)

    def seen(self) -> set[str | None]:
        return {m for answers in self.answers for _, m in answers}

    def latest(self) -> set[str | None]:
        return {answers[-1][1] for answers in self.answers if answers}

    def check_all_ok(self) -> None:
        assert not self.errors, self.errors
        bad = [a for answers in self.answers for a in answers if a[0] != 200]
        assert not bad, bad[:5]
        assert all(self.answers), "a load thread got no answer at all"


def phases(answers: list[tuple[int, str | None]]) -> list[str | None]:
    """The models one thread saw, consecutive repeats collapsed."""
    out: list[str | None] = []
    for _, model in answers:
        if not out or out[-1] != model:
            out.append(model)
    return out


def status(server: Served, endpoint: str) -> dict[str, Any]:
    with server.client() as client:
        r = client.get(f"/api/v1/endpoints/{endpoint}/status")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def predict_model(server: Served, endpoint: str, models: Models) -> str:
    with server.client() as client:
        r = client.post(
            f"/v1/endpoints/{endpoint}/predict", json={"inputs": records(models.rows(3))}
        )
    assert r.status_code == 200, r.text
    return str(r.json()["model"])


@pytest.mark.slow
def test_hot_swap_under_continuous_load(server: Served, models: Models) -> None:
    ws = server.ws
    payload = {"inputs": records(models.rows(4, start=10))}
    with Load(server, "m", payload) as load:
        wait_for(lambda: load.seen() == {"m/1"} and sum(map(len, load.answers)) > 20, what="load")
        time.sleep(1.0)
        assert ws.registry.register_model("m", models.rf, models.rows(50)).version == 2
        ws.registry.set_alias("m", "champion", 2)
        wait_for(lambda: load.latest() == {"m/2"}, what="answers from m/2")
        time.sleep(1.5)
        ws.registry.set_alias("m", "champion", 1)
        wait_for(lambda: load.latest() == {"m/1"}, what="answers from m/1 again")
        time.sleep(1.0)
    load.check_all_ok()
    for answers in load.answers:
        # every thread saw v1, then v2, then v1 again: one switch each way, never back and forth
        assert phases(answers) == ["m/1", "m/2", "m/1"], phases(answers)
    assert status(server, "m")["versions"] == ["models:/m@champion -> v1"]


def _corrupt(ws: Any, version: Any) -> Path:
    """Flip bytes of the stored model file, so its checksum no longer matches the record."""
    (name,) = [f for f in version.files if f.startswith("model.")]
    path = Path(ws.settings.artifacts) / version.artifact_key / name
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def test_a_version_that_cannot_load_leaves_the_old_one_serving(
    server: Served, models: Models
) -> None:
    from slow_models import UnloadableModel

    ws = server.ws
    payload = {"inputs": records(models.rows(4, start=20))}
    assert predict_model(server, "b", models) == "b/1"
    broken = ws.registry.register_model("b", UnloadableModel(), models.rows(5))
    corrupt = ws.registry.register_model("b", models.rf, models.rows(50))
    good = ws.registry.register_model("b", models.rf, models.rows(50))
    assert (broken.version, corrupt.version, good.version) == (2, 3, 4)
    _corrupt(ws, corrupt)

    def failures(version: int) -> list[Any]:
        marker = f"models:/b@champion=v{version}"
        found = ws.audit.list(action="endpoint.load_failed", target="endpoints/b")
        return [e for e in found if marker in json.dumps(e.after)]

    for bad, why in ((broken, "cannot unpickle the model"), (corrupt, "failed its checksum")):
        with Load(server, "b", payload) as load:
            ws.registry.set_alias("b", "champion", bad.version)
            wait_for(lambda v=bad.version: failures(v), what="the failure in the audit log")
            time.sleep(0.6)  # a few more polls: the failed version is not retried endlessly
        load.check_all_ok()
        assert load.seen() == {"b/1"}  # the old version answered everything
        doc = status(server, "b")
        assert doc["state"] == "ready"
        assert doc["versions"] == ["models:/b@champion -> v1"]
        assert why in doc["last_error"].lower(), doc
        (entry,) = failures(bad.version)  # written once, not once per poll
        assert entry.after["still_serving"] == "b/1"
        assert entry.after["reason"] == doc["last_error"]

    with server.client() as client:
        metrics = client.get("/metrics").text
    assert 'modelplane_model_loads_total{endpoint="b",outcome="failed",version="2"}' in metrics

    ws.registry.set_alias("b", "champion", good.version)
    wait_for(lambda: predict_model(server, "b", models) == "b/4", what="recovery on b/4")
    doc = status(server, "b")
    assert doc["last_error"] is None and doc["state"] == "ready"
    assert doc["versions"] == ["models:/b@champion -> v4"]


def test_an_alias_that_disappears_leaves_the_endpoint_serving(
    server: Served, models: Models
) -> None:
    ws = server.ws
    payload = {"inputs": records(models.rows(4, start=30))}
    with Load(server, "d", payload, threads=1) as load:
        wait_for(load.seen, what="load")
        ws.registry.delete_alias("d", "champion")
        doc = wait_for(
            lambda: (s := status(server, "d"))["last_error"] and s, what="the resolution error"
        )
        time.sleep(0.6)
    load.check_all_ok()
    assert load.seen() == {"d/1"}
    assert doc["state"] == "ready" and doc["versions"] == ["models:/d@champion -> v1"]
    assert "no alias @champion" in doc["last_error"]

    ws.registry.set_alias("d", "champion", 1)  # back: nothing to load, the error is over
    wait_for(lambda: status(server, "d")["last_error"] is None, what="the error cleared")
    assert predict_model(server, "d", models) == "d/1"


@pytest.mark.slow
def test_cli_deploy_and_delete_while_serving(server: Served, models: Models) -> None:
    body = {"inputs": records(models.rows(3))}

    def answer() -> httpx.Response:
        with server.client() as client:
            return client.post("/v1/endpoints/cli-ep/predict", json=body)

    assert answer().status_code == 404
    done = run_cli(server.home, "deploy", "cli-ep", "models:/rf/1", "--max-batch-size", "64")
    assert done.returncode == 0, done.stderr
    r = wait_for(lambda: (r := answer()).status_code == 200 and r, what="cli-ep served")
    assert r.json()["model"] == "rf/1"

    listed = run_cli(server.home, "endpoints", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert "cli-ep" in {e["name"] for e in json.loads(listed.stdout)}
    shown = run_cli(server.home, "endpoints", "show", "cli-ep", "--json")
    assert json.loads(shown.stdout)["config"]["batching"]["max_batch_size"] == 64

    done = run_cli(server.home, "endpoints", "delete", "cli-ep")
    assert done.returncode == 0, done.stderr
    r = wait_for(lambda: (r := answer()).status_code == 404 and r, what="cli-ep gone")
    assert r.json()["error"] == "not_found"
    with server.client() as client:
        assert client.get("/api/v1/endpoints/cli-ep/status").status_code == 404
    missing = run_cli(server.home, "endpoints", "delete", "cli-ep")
    assert missing.returncode == 2 and "cli-ep" in missing.stderr
