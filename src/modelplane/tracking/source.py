"""Where a run's code came from: the entry script and its git commit when there is one."""

from __future__ import annotations

import subprocess
import sys
from functools import lru_cache
from pathlib import Path


def entry_script() -> str | None:
    argv0 = sys.argv[0] if sys.argv else ""
    if not argv0 or argv0 == "-c":
        return None
    return str(Path(argv0).resolve())[:1000]


def git_commit(start: Path | None = None) -> str | None:
    """The HEAD commit of the repository containing ``start`` (default: the entry script's folder),
    with a ``-dirty`` suffix when tracked files have changes; None outside a repository."""
    script = entry_script()
    return _commit_of(start or (Path(script).parent if script else Path.cwd()))


@lru_cache(maxsize=16)
def _commit_of(folder: Path) -> str | None:
    """Cached per folder for the life of the process: a training script starting 1,000 runs
    should not spawn 2,000 git processes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        if head.returncode != 0:
            return None
        commit = head.stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        return commit + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None
