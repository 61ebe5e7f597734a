"""Tables of one serving run, with every server's ratio to the floor of the same repetition.

    python bench/serving/summarize.py RUN_DIR            # RUN_DIR holds the harness's serving.jsonl

Standard library only. The harness's own report stage also writes results.md, but it needs the
metadata of every peer venv; this reads only serving.jsonl. Each cell is "value (ratio to the
floor of that repetition)"; the ratio is the only figure comparable across runs on a noisy
machine.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

SCENARIOS = ("c1", "c32", "c8x32")


def load(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "serving.jsonl"
    if not path.is_file():
        raise SystemExit(f"{path} does not exist: give the run folder of a serving run")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def cell(rec: dict[str, Any] | None, floor: dict[str, Any] | None) -> str:
    if rec is None:
        return "–"
    value = rec["rows_s"] if rec["scenario"] == "c8x32" else rec["rps"]
    text = f"{value:,.0f}"
    if floor is not None and rec["server"] != "floor":
        base = floor["rows_s"] if rec["scenario"] == "c8x32" else floor["rps"]
        text += f" ({value / base:.2f}×)"
    return f"{text}, p99 {rec['p99_ms']:.1f}"


def tables(records: list[dict[str, Any]]) -> str:
    by_key: dict[tuple[Any, ...], dict[str, Any]] = {}
    rows: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    for r in records:
        by_key[(r["model"], r["rep"], r["server"], r["format"], r["scenario"])] = r
        row = (r["rep"], r["server"], r["format"])
        if row not in rows[r["model"]]:
            rows[r["model"]].append(row)
    out = []
    for model, model_rows in rows.items():
        out.append(
            f"\n**{model}** — req/s (c1, c32) or rows/s (c8x32), ratio to the floor, p99 ms\n"
        )
        out.append("| rep | server | body | " + " | ".join(SCENARIOS) + " |")
        out.append("|---|---|---|" + "---|" * len(SCENARIOS))
        for rep, server, fmt in sorted(model_rows, key=lambda t: (t[0], t[1] != "floor")):
            cells = []
            for scen in SCENARIOS:
                floor = by_key.get((model, rep, "floor", "floor", scen))
                cells.append(cell(by_key.get((model, rep, server, fmt, scen)), floor))
            out.append(f"| r{rep} | {server} | {fmt} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    print(tables(load(Path(sys.argv[1]))))


if __name__ == "__main__":
    main()
