"""The hash of an audit entry: what links each entry to the one before it."""

from __future__ import annotations

import hashlib
import json
from typing import Any

#: the ``prev_hash`` of the first entry, and the hash of the empty log's head
GENESIS = "0" * 64


def entry_hash(
    seq: int, ts: int, actor: str, action: str, target: str, before: Any, after: Any, prev: str
) -> str:
    """SHA-256 of the entry's canonical JSON (sorted keys, no whitespace), previous hash included."""
    doc = {
        "seq": seq,
        "ts": ts,
        "actor": actor,
        "action": action,
        "target": target,
        "before": before,
        "after": after,
        "prev_hash": prev,
    }
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


__all__ = ["GENESIS", "entry_hash"]
