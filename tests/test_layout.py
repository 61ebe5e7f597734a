"""The shape of the code base: no module grows past the size where it should be split."""

from __future__ import annotations

from pathlib import Path

import modelplane

MAX_LINES = 800


def test_no_module_over_800_lines() -> None:
    root = Path(modelplane.__file__).parent
    sizes = {
        str(path.relative_to(root)): len(path.read_text(encoding="utf-8").splitlines())
        for path in root.rglob("*.py")
    }
    too_long = {name: n for name, n in sizes.items() if n > MAX_LINES}
    assert not too_long, f"split these modules (over {MAX_LINES} lines): {too_long}"
    assert len(sizes) > 50  # the walk found the package
