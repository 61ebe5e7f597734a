"""Run artifacts: files logged under a run (notes, configs, figures, tables, models) — their
records and the check every artifact path goes through (no I/O here; the service that stores
them is :mod:`modelplane.tracking.run_artifacts`).

They live in the artifact store below ``runs/<run id>/artifacts/``, so they are checksummed on
write, verified on read and encrypted at rest when the workspace has an encryption key, like
every other artifact. They are listed from the store's records (as a version's model files are).
Like every artifact they are immutable: logging a path again with the same bytes is a no-op, with
other bytes a :class:`~modelplane.errors.ConflictError`.

Artifact paths come from users (and over HTTP from anyone holding a token): every path goes
through :func:`artifact_path` — the archive-member check of :mod:`modelplane.core.safepaths`
(traversal, absolute paths, backslashes, NUL, encoded forms) and then the store's own key rule.
Every file logged is audited with the actor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelplane.core.names import MAX_KEY_LEN, check_artifact_key
from modelplane.core.safepaths import check_member_name
from modelplane.errors import InvalidInputError

_SEGMENT = "[A-Za-z0-9_][A-Za-z0-9._+=-]{0,254}"
PATH_PATTERN = f"^{_SEGMENT}(?:/{_SEGMENT})*$"
""":func:`artifact_path`'s rule as a JSON Schema pattern (segments of at most 255 characters)."""
MAX_PATH_LEN = MAX_KEY_LEN - len("runs/") - 32 - len("/artifacts/")
"""The longest artifact path: with the run's prefix, the store's longest key."""


@dataclass(frozen=True)
class ArtifactEntry:
    """One file of a run: its path relative to the run's artifact root, size and SHA-256."""

    path: str
    size: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArtifactEntry:
        return cls(str(data["path"]), int(data["size"]), str(data["sha256"]))


def artifact_path(value: object, field: str = "artifact_path") -> str:
    """The normalised relative path ``value`` names, or InvalidInputError naming ``field``.

    ``a/./b.txt`` is ``a/b.txt``; ``..``, absolute paths, backslashes, NUL and their encoded
    forms are refused, and so is any character the artifact store does not take in a name.
    """
    rel = check_member_name(value, field=field)
    try:
        check_artifact_key(rel)
    except InvalidInputError as exc:
        raise InvalidInputError(
            exc.message.replace("invalid artifact name", "invalid artifact path", 1), field=field
        ) from None
    return rel


def optional_path(value: object, field: str = "path") -> str:
    """``artifact_path`` for a path that may be empty (``None``, ``""`` or ``"."``: the root)."""
    if value is None or value in ("", ".", "/"):
        return ""
    return artifact_path(value, field)


def run_root(run_id: str) -> str:
    """The artifact-store prefix of a run's artifacts."""
    return f"runs/{run_id}/artifacts"


__all__ = [
    "MAX_PATH_LEN",
    "PATH_PATTERN",
    "ArtifactEntry",
    "artifact_path",
    "optional_path",
    "run_root",
]
