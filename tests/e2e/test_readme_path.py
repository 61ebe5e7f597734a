"""The README's path works on a fresh copy of the repository: ``make demo`` (a new ``.venv``,
modelplane installed into it, the demo), then the README's next-steps block as written, from
another directory: the commands find the demo's home through ``MODELPLANE_HOME``, and
``modelplane serve MODEL_URI`` answers ``POST /v1/endpoints/<model>/predict``.

The copy holds the files git tracks plus the untracked, not ignored ones, as they are in the
working tree (``git ls-files --cached --others --exclude-standard``): on a clean tree that is
exactly what ``git clone`` gives, and during development it includes uncommitted changes, which a
clone would not. The block is parsed from the README (after the ``<!-- next-steps`` marker), so
the test breaks when the README drifts from what works. Installing reuses pip's cache and the
configured package indexes; nothing else is downloaded.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MARKER = "<!-- next-steps"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


CHECK = """
import sys, time, httpx
from sklearn.datasets import load_breast_cancer
url = f"http://127.0.0.1:{sys.argv[1]}"
deadline = time.monotonic() + 120
while True:
    try:
        if httpx.get(url + "/v2/health/ready", timeout=2).status_code == 200:
            break
    except httpx.HTTPError:
        pass
    if time.monotonic() > deadline:
        sys.exit("the server did not become ready")
    time.sleep(0.2)
rows = load_breast_cancer(as_frame=True).data.head(2).to_dict("records")
r = httpx.post(url + "/v1/endpoints/breast-cancer/predict", json={"inputs": rows}, timeout=10)
print("predict", r.status_code, r.text[:300])
"""


def next_steps(readme: str) -> list[str]:
    """The commands of the README's next-steps block, comments dropped."""
    after = readme.split(MARKER, 1)[1]
    block = re.search(r"```sh\n(.*?)```", after, re.S)
    assert block is not None, "the README's next-steps block is not a ```sh block"
    lines = [line.split(" #", 1)[0].strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def copy_tree(target: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for raw in filter(None, listed):
        source = REPO / os.fsdecode(raw)
        if source.is_file():  # a tracked file deleted in the working tree is not copied
            dest = target / os.fsdecode(raw)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest)


@pytest.mark.slow
def test_make_demo_then_the_readme_next_steps_from_another_directory(tmp_path: Path) -> None:
    if shutil.which("make") is None or shutil.which("git") is None:
        pytest.skip("needs make and git")
    clone = tmp_path / "modelplane"
    copy_tree(clone)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELPLANE_", "VIRTUAL_ENV"))}
    env["HOME"] = str(elsewhere)  # the block's `cd ~` leaves the repository
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(REPO))
    )
    env["PIP_CACHE_DIR"] = os.environ.get("PIP_CACHE_DIR") or str(
        Path(os.path.expanduser("~")) / ".cache" / "pip"
    )

    demo = subprocess.run(
        ["make", "demo"],
        check=False,
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    home = clone / ".modelplane"
    tail = demo.stdout[-2500:]
    assert f"export MODELPLANE_HOME={home}" in tail, tail  # the demo says how to find it again
    assert str(clone / ".venv" / "bin" / "activate") in tail, tail

    commands = next_steps((clone / "README.md").read_text(encoding="utf-8"))
    serve = [c for c in commands if c.startswith("modelplane serve")]
    assert len(serve) == 1 and serve[0] == commands[-1], commands
    port = free_port()
    check = tmp_path / "check.py"
    check.write_text(CHECK, encoding="utf-8")
    script = "\n".join(
        [
            *commands[:-1],
            'echo "cwd=$PWD"',
            f"{serve[0]} --port {port} & server=$!",
            'trap "kill $server; wait $server" EXIT',
            f"python {check} {port}",
        ]
    )
    run = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        check=False,
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = run.stdout
    assert run.returncode == 0, out[-3000:] + run.stderr[-3000:]
    assert f"cwd={elsewhere}" in out  # the commands ran outside the repository
    assert "breast-cancer" in out  # models show found the demo's model through the home
    assert "intact" in out or "ok" in out.lower()  # audit verify
    assert "predict 200" in out, out[-2000:] + run.stderr[-2000:]
    assert '"model":"breast-cancer/' in out
    assert not (elsewhere / ".modelplane").exists()  # no new, empty store was made there
