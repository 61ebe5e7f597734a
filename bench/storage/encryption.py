"""Artifact store throughput, plaintext vs encrypted at rest (AES-256-GCM, 1 MiB chunks), on the
local folder backend with SQLite metadata.

Each repetition writes one fresh artifact of SIZE MB with ``put_file`` (hash, [encrypt,] write to
a temporary file, fsync, rename, record) and reads it back with ``get_file`` (read, [decrypt,]
hash-verify, write the copy, rename) and ``get_bytes`` (into memory, verified). The source file
and the store sit in the same folder (``--dir``, default: a temporary folder), so both modes pay
the same disk and page-cache costs; the figures are the median over the repetitions.

usage: python bench/storage/encryption.py [--size-mb 100] [--reps 5] [--dir PATH]
Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from modelplane.stores.artifacts import ArtifactStore, open_artifact_store
from modelplane.stores.metadata import MetadataStore


def timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def bench_mode(root: Path, src: Path, key: str | None, reps: int) -> dict[str, float]:
    meta = MetadataStore(f"sqlite:///{root / 'meta.db'}")
    try:
        store: ArtifactStore = open_artifact_store(str(root / "store"), meta, encryption_key=key)
        store.record("warm-up")  # migrate the database outside the timings
        times: dict[str, list[float]] = {"write": [], "read_file": [], "read_bytes": []}
        out = root / "out.bin"
        for rep in range(reps):
            name = f"bench/{rep}.bin"
            # One byte differs per repetition: a new artifact each time, never a no-op re-put.
            with open(src, "r+b") as fh:
                fh.write(bytes([rep % 256]))
            times["write"].append(timed(lambda name=name: store.put_file(name, src)))
            times["read_file"].append(timed(lambda name=name: store.get_file(name, out)))
            times["read_bytes"].append(timed(lambda name=name: store.get_bytes(name)))
            out.unlink()
        return {k: statistics.median(v) for k, v in times.items()}
    finally:
        meta.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mp-bench-enc-", dir=args.dir) as tmp:
        work = Path(tmp)
        src = work / "artifact.bin"
        with open(src, "wb") as out:
            for _ in range(args.size_mb):
                out.write(os.urandom(1_000_000))
        size_mb = src.stat().st_size / 1e6
        results: dict[str, dict[str, float]] = {}
        for mode, key in (("plaintext", None), ("encrypted", secrets.token_hex(32))):
            folder = work / mode
            folder.mkdir()
            results[mode] = bench_mode(folder, src, key, args.reps)

    print(f"{size_mb:.0f} MB artifact, local store, median of {args.reps} (MB/s; seconds)")
    print(f"{'':12}{'write':>18}{'read (get_file)':>22}{'read (get_bytes)':>22}")
    for mode, t in results.items():
        cells = [
            f"{size_mb / t[k]:8.0f} ({t[k]:.3f})" for k in ("write", "read_file", "read_bytes")
        ]
        print(f"{mode:12}{cells[0]:>18}{cells[1]:>22}{cells[2]:>22}")
    plain, enc = results["plaintext"], results["encrypted"]
    ratio = {k: plain[k] / enc[k] for k in plain}
    print(
        "encrypted / plaintext throughput: " + ", ".join(f"{k} {v:.2f}" for k, v in ratio.items())
    )
    record = {
        "size_mb": size_mb,
        "reps": args.reps,
        "seconds": results,
        "mb_per_s": {m: {k: size_mb / v for k, v in t.items()} for m, t in results.items()},
    }
    print(json.dumps(record))


if __name__ == "__main__":
    main()
