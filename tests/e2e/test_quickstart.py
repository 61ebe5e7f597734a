"""docs/quickstart.md works as written: its ```` ```bash run ```` and ```` ```python run ````
blocks run in order in a fresh folder, and its ```` ```bash serve ```` block starts the server
(on a free port instead of the page's 8000) that the later blocks talk to."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import Served, free_port, server_env, wait_ready

DOC = Path(__file__).resolve().parents[2] / "docs" / "quickstart.md"
FENCE = re.compile(r"^```([a-z]+)(?: ([a-z]+))?\n(.*?)^```$", re.MULTILINE | re.DOTALL)
PAGE_PORT = "8000"


def blocks() -> list[tuple[str, str, str]]:
    """(language, mark, code) of every fenced block of the page, in order."""
    return [(m.group(1), m.group(2) or "", m.group(3)) for m in FENCE.finditer(DOC.read_text())]


def test_the_page_covers_the_whole_path() -> None:
    text = DOC.read_text()
    for step in (
        "make demo",
        ".venv/bin",
        "mp.start_run",
        "mp.register_model",
        "mp.set_alias",
        "modelplane deploy",
        "modelplane serve",
        "curl",
        "modelplane audit verify",
        "security.md",
    ):
        assert step in text, step
    marks = [mark for _, mark, _ in blocks()]
    assert marks.count("serve") == 1
    assert marks.count("run") >= 6


@pytest.mark.slow
def test_quickstart_runs_as_written(tmp_path: Path) -> None:
    port = str(free_port())
    env = server_env()
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["MODELPLANE_HOME"] = str(tmp_path / ".modelplane")
    served: Served | None = None
    outputs: list[str] = []
    try:
        for language, mark, text in blocks():
            if mark not in ("run", "serve"):
                continue
            code = text.replace(PAGE_PORT, port)
            if mark == "serve":
                served = _serve(code, port, env, tmp_path)
                continue
            if language == "python":
                (tmp_path / "train.py").write_text(code)
                argv = [sys.executable, "train.py"]
            else:
                assert language == "bash", language
                argv = ["bash", "-euo", "pipefail", "-c", code]
            done = subprocess.run(
                argv,
                check=False,
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=180,
            )
            assert done.returncode == 0, f"{code}\nstdout: {done.stdout}\nstderr: {done.stderr}"
            outputs.append(done.stdout)
    finally:
        if served is not None:
            served.stop()
    assert served is not None, "the page starts no server"
    text = "\n".join(outputs)
    assert text.count('"prediction_ids"') == 2  # the two curl calls were answered
    assert '"model":"iris/1"' in text.replace(" ", "")
    assert "ModelVersion(name='iris', version=1" in text
    assert "audit chain intact" in text


def _serve(code: str, port: str, env: dict[str, str], cwd: Path) -> Served:
    line = code.strip()
    assert line.endswith("&"), "the serve block starts the server in the background"
    argv = shlex.split(line.removesuffix("&"))
    assert argv[:2] == ["modelplane", "serve"], argv
    log = cwd / "server.stderr"
    log_file = log.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelplane", *argv[1:]],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log_file,
        start_new_session=True,
    )
    served = Served(
        f"http://127.0.0.1:{port}", int(port), proc, Path(env["MODELPLANE_HOME"]), None, log
    )
    served._log_file = log_file
    try:
        wait_ready(served)
    except BaseException:
        served.stop()
        raise
    return served
