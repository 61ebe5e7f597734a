"""Concurrent writers on every metadata backend (SQLite file, real PostgreSQL schema): separate OS
processes registering versions of one dataset at the same moment, and threads creating one
experiment at once. Version numbers are distinct and contiguous, equal content is one version,
and no artifact is left behind that no version references."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pandas as pd
import pytest

import modelplane as mp

SRC = str(Path(__file__).resolve().parents[2] / "src")
ROUNDS = 20
DATASET = "shared"

# argv: home, db_url, artifacts root, barrier file, process number, "distinct" | "same"
_REGISTER = """
    import json, os, sys, time
    home, db_url, artifacts, barrier, proc, mode = sys.argv[1:]
    import pandas as pd
    import modelplane as mp

    ws = mp.configure(home=home, db_url=db_url, artifacts=artifacts, actor=f"proc-{proc}")
    ws.datasets.list()  # open (and migrate) the store first: the race is about registering
    owner = int(proc) if mode == "distinct" else 0
    frames = [
        pd.DataFrame({"owner": [owner] * 5, "round": [k] * 5, "x": [k * 0.5 + i for i in range(5)]})
        for k in range(int(os.environ.get("ROUNDS", "20")))
    ]
    print("ready", flush=True)
    deadline = time.monotonic() + 60
    while not os.path.exists(barrier):
        if time.monotonic() > deadline:
            sys.exit("barrier never opened")
        time.sleep(0.001)
    got = [mp.register_dataset("shared", df).version for df in frames]
    print(json.dumps(got), flush=True)
"""


def expected_frame(owner: int, k: int) -> pd.DataFrame:
    return pd.DataFrame(
        {"owner": [owner] * 5, "round": [k] * 5, "x": [k * 0.5 + i for i in range(5)]}
    )


def race(home: Path, db_url: str, artifacts: Path, tmp_path: Path, mode: str) -> list[list[int]]:
    """Run two registering processes released together; their version numbers, in order."""
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env["ROUNDS"] = str(ROUNDS)
    barrier = tmp_path / f"go-{mode}"
    script = textwrap.dedent(_REGISTER)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                script,
                str(home),
                db_url,
                str(artifacts),
                str(barrier),
                str(n),
                mode,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for n in (1, 2)
    ]
    try:
        for p in procs:  # both have imported everything and opened the store: release them
            assert p.stdout is not None
            line = p.stdout.readline().strip()
            assert line == "ready", p.stderr.read() if p.stderr else line
        barrier.touch()
        results = [p.communicate(timeout=240) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    versions = []
    for p, (out, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err[-3000:]
        assert "Traceback" not in err, err[-3000:]
        versions.append(json.loads(out.strip().splitlines()[-1]))
    return versions


def stored_files(artifacts: Path) -> set[str]:
    """Every file under the dataset's prefix in the artifact folder, as store keys."""
    folder = artifacts / "datasets" / DATASET
    return {p.relative_to(artifacts).as_posix() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    return tmp_path / "artifacts"


@pytest.mark.slow
def test_two_processes_register_different_content_at_once(
    home: Path, db_url: str, artifacts: Path, tmp_path: Path
) -> None:
    got = race(home, db_url, artifacts, tmp_path, "distinct")

    everything = sorted(got[0] + got[1])
    assert everything == list(range(1, 2 * ROUNDS + 1))  # distinct and contiguous
    for mine in got:  # each process saw its own registrations in order
        assert mine == sorted(mine)

    ws = mp.configure(home=home, db_url=db_url, artifacts=str(artifacts))
    try:
        versions = ws.datasets.list(DATASET)
        assert [v.version for v in versions] == list(range(1, 2 * ROUNDS + 1))
        for owner, mine in zip((1, 2), got, strict=True):
            for k, number in enumerate(mine):
                loaded = ws.datasets.load(DATASET, number)
                pd.testing.assert_frame_equal(loaded, expected_frame(owner, k))
        referenced = {v.artifact_key for v in versions}
        assert len(referenced) == 2 * ROUNDS
        # No orphan: every stored object and every checksum record belongs to a version.
        assert stored_files(artifacts) == referenced
        assert set(ws.artifacts.keys(f"datasets/{DATASET}/")) == referenced
        audit = ws.audit.list(target=f"datasets/{DATASET}", limit=1000)
        assert sum(e.action == "dataset.register" for e in audit) == 2 * ROUNDS
        assert ws.audit.verify().ok
    finally:
        ws.close()


@pytest.mark.slow
def test_two_processes_register_the_same_content_at_once(
    home: Path, db_url: str, artifacts: Path, tmp_path: Path
) -> None:
    got = race(home, db_url, artifacts, tmp_path, "same")

    assert got[0] == got[1]  # each content got one version, whoever registered it
    assert got[0] == list(range(1, ROUNDS + 1))

    ws = mp.configure(home=home, db_url=db_url, artifacts=str(artifacts))
    try:
        versions = ws.datasets.list(DATASET)
        assert [v.version for v in versions] == list(range(1, ROUNDS + 1))
        for k, number in enumerate(got[0]):
            pd.testing.assert_frame_equal(ws.datasets.load(DATASET, number), expected_frame(0, k))
        referenced = {v.artifact_key for v in versions}
        assert stored_files(artifacts) == referenced
        assert set(ws.artifacts.keys(f"datasets/{DATASET}/")) == referenced
        audit = ws.audit.list(target=f"datasets/{DATASET}", limit=1000)
        assert sum(e.action == "dataset.register" for e in audit) == ROUNDS
        assert ws.audit.verify().ok
        # The counter did not move for the losers: the next content is the next number.
        assert mp.register_dataset(DATASET, expected_frame(9, 0)).version == ROUNDS + 1
    finally:
        ws.close()


def test_experiment_get_or_create_from_many_threads(ws: mp.Workspace) -> None:
    threads = 8
    start = threading.Barrier(threads)
    results: list[object] = []
    lock = threading.Lock()

    def create() -> None:
        start.wait()
        try:
            found: object = ws.tracking.get_or_create_experiment("together")
        except Exception as exc:  # collected: a failure in a thread must fail the test
            found = exc
        with lock:
            results.append(found)

    workers = [threading.Thread(target=create) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(60)
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors
    assert len(results) == threads
    assert len({r.id for r in results}) == 1  # type: ignore[attr-defined]
    assert [e.name for e in ws.tracking.list_experiments()].count("together") == 1
    created = ws.audit.list(target="experiments/together", action="experiment.create")
    assert len(created) == 1


def test_model_versions_are_never_reused_after_delete(ws: mp.Workspace) -> None:
    from sklearn.linear_model import LinearRegression

    def model() -> LinearRegression:
        return LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0])

    assert [mp.register_model("counted", model()).version for _ in range(3)] == [1, 2, 3]
    ws.registry.delete_version("counted", 3)
    ws.registry.delete_version("counted", 2)
    assert mp.register_model("counted", model()).version == 4
    assert [v.version for v in ws.registry.versions("counted")] == [1, 4]
    created = ws.audit.list(target="models/counted", action="model.create")
    assert len(created) == 1
