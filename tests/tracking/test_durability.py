"""A metric point whose call returned survives kill -9 of the process that logged it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import modelplane as mp

CHILD = textwrap.dedent(
    """
    import sys
    import modelplane as mp
    mp.configure(home=sys.argv[1], db_url=sys.argv[2])
    run = mp.start_run("crash")
    print("RUN", run.id, flush=True)
    i = 0
    while True:
        run.log_metric("loss", 1.0 / (i + 1), step=i)
        print("OK", i, flush=True)  # printed only after the call returned
        i += 1
    """
)


@pytest.mark.slow
def test_logged_points_survive_kill_9(home: Path, db_url: str, tmp_path: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(home), db_url],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    run_id = proc.stdout.readline().split()[1]
    acked = -1
    for line in proc.stdout:
        acked = int(line.split()[1])
        if acked >= 300:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # whatever the child printed before it died was acknowledged too
    for line in proc.stdout.read().splitlines():
        parts = line.split()
        # a line cut short by the kill ("OK" without its number) was not acknowledged
        if len(parts) == 2 and parts[0] == "OK" and parts[1].isdigit():
            acked = int(parts[1])

    ws = mp.configure(home=home, db_url=db_url)
    steps = [p.step for p in ws.tracking.metric_history(run_id, "loss")]
    assert steps[: acked + 1] == list(range(acked + 1))
    assert ws.audit.verify().ok
