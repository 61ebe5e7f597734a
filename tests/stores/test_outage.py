"""A metadata database outage seen from the HTTP API: a PostgreSQL cluster of the test's own (never
the shared server) is stopped while a modelplane app serves control-plane routes. Every answer
meanwhile is 200 or 503 with ``Retry-After`` and a JSON body — never a 500, never a traceback —
and once the cluster is back the same routes answer 200 again."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

API = "/api/v1"


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """A throw-away PostgreSQL cluster in its own folder, on its own port and socket folder."""

    def __init__(self, bindir: Path, root: Path) -> None:
        self.bindir = bindir
        self.root = root
        self.data = root / "data"
        self.port = _free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        # PostgreSQL refuses to run as root: act as the postgres user then.
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run(
            [*prefix, *args], capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{args[0]} failed: {done.stderr[-2000:]}\n{tail}")

    def init(self) -> None:
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-locale",
            "-E",
            "UTF8",
            "--no-sync",
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "server.log"),
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self, mode: str) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    bindir = _bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin")
    if os.geteuid() == 0:
        import pwd

        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres user to run a cluster as")
    # Under /tmp, not pytest's tmp_path: the postgres user must be able to reach the folder.
    root = Path(tempfile.mkdtemp(prefix="mp-pg-"))
    if os.geteuid() == 0:
        os.chown(root, owner.pw_uid, owner.pw_gid)
    made = Cluster(bindir, root)
    try:
        made.init()
        made.start()
        yield made
    finally:
        try:
            made.stop("immediate")
        except RuntimeError:
            pass  # already stopped
        shutil.rmtree(root, ignore_errors=True)


def _create_app() -> Callable[..., Any]:
    try:
        from modelplane.serving.app import create_app
    except ImportError:  # the server package has moved
        from modelplane.server.app import create_app  # type: ignore[no-redef]
    return create_app  # type: ignore[no-any-return]


def _csv(n: int) -> bytes:
    return ("a,b\n" + "".join(f"{i},{i * n}\n" for i in range(5))).encode()


def _is_unavailable(r: Any) -> None:
    assert r.status_code == 503, r.text
    assert r.headers.get("retry-after", "").isdigit(), dict(r.headers)
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["error"] == "unavailable"
    assert body["message"].startswith("metadata database unavailable")
    assert "Traceback" not in r.text


@pytest.mark.postgres
@pytest.mark.slow
def test_postgres_outage_answers_503_then_recovers(cluster: Cluster, home: Path) -> None:
    from fastapi.testclient import TestClient

    from modelplane.config import load_settings
    from modelplane.context import Workspace

    ws = Workspace(load_settings(home=home, db_url=cluster.url), actor="tester")
    app = _create_app()(ws)
    with TestClient(app, raise_server_exceptions=False, base_url="http://127.0.0.1") as client:

        def register(n: int) -> Any:
            return client.post(
                f"{API}/datasets/d/versions",
                content=_csv(n),
                headers={"content-type": "text/csv"},
            )

        assert client.get(f"{API}/models").status_code == 200
        assert register(1).status_code == 201
        registered = 1

        for round_, mode in enumerate(("fast", "immediate"), start=2):
            # Stop the server while requests keep coming.
            stopper = threading.Thread(target=cluster.stop, args=(mode,))
            seen: list[int] = []
            stopper.start()
            while stopper.is_alive() or len(seen) < 5:
                for path in (f"{API}/models", f"{API}/datasets/d"):
                    r = client.get(path)
                    seen.append(r.status_code)
                    if r.status_code != 200:
                        _is_unavailable(r)
                time.sleep(0.02)
            stopper.join()
            assert 503 in seen, seen

            # Down: every route says "retry later".
            for path in (f"{API}/models", f"{API}/datasets/d", f"{API}/datasets/d/versions"):
                _is_unavailable(client.get(path))
            _is_unavailable(register(round_))

            # Back: the same routes answer again within a few retries.
            cluster.start()
            statuses = []
            for _ in range(20):
                r = client.get(f"{API}/models")
                statuses.append(r.status_code)
                if r.status_code == 200:
                    break
                _is_unavailable(r)
                time.sleep(0.25)
            assert statuses[-1] == 200, statuses
            assert len(statuses) <= 5, statuses
            assert client.get(f"{API}/datasets/d").json()["version"] == registered
            created = register(round_)
            assert created.status_code == 201, created.text
            registered += 1
            assert created.json()["version"] == registered

        versions = client.get(f"{API}/datasets/d/versions").json()
        assert [v["version"] for v in versions] == list(range(1, registered + 1))
    ws.close()
