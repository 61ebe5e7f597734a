"""Relative file names that came from outside (an upload, an archive member, a manifest) and the
safe unpacking of archives.

:func:`check_member_name` is the one check every such name goes through before anything is
written or read under it. It refuses absolute paths (``/x``, ``~/x``), drive letters and UNC
paths (``C:x``, ``\\\\host\\share``), backslashes, NUL and other control characters, ``..``
segments, including their percent-encoded (``%2e%2e%2f``), double-encoded (``%252e%252e``),
Unicode-compatibility (``．．``) and path-parameter (``..;/``) forms, and URLs. ``.`` and empty
segments are dropped (``./MLmodel`` is ``MLmodel``); the normalised name is returned.

:func:`extract_archive` unpacks a tar (plain or compressed) or zip archive into an empty folder:
every member name passes :func:`check_member_name`; symbolic links, hard links, device files,
FIFOs and duplicate names are refused; the number of members and the total uncompressed size are
capped before anything is written (and the bytes actually written are counted, so a zip whose
declared sizes lie is stopped too); every target must resolve inside the folder. Tar archives
are extracted with the standard library's ``data`` filter on top of these checks.
"""

from __future__ import annotations

import os
import re
import stat
import tarfile
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import unquote

from modelplane.errors import InvalidInputError, PayloadTooLargeError

MAX_NAME_LEN: Final = 1024
MAX_SEGMENT_LEN: Final = 255
MAX_MEMBERS: Final = 10_000
MAX_TOTAL_BYTES: Final = 2 * 1024**3
MAX_RATIO: Final = 200
"""A zip member may not decompress to more than this many times its compressed size."""
_DECODE_ROUNDS: Final = 4
_CHUNK: Final = 1 << 20
_DRIVE = re.compile(r"^[A-Za-z]:")


def _refuse(name: str, why: str, field: str) -> InvalidInputError:
    shown = repr(name) if len(repr(name)) <= 100 else repr(name)[:97] + "..."
    return InvalidInputError(f"unsafe file name {shown}: {why}", field=field)


def _problem(text: str) -> str | None:
    """Why one spelling of a name is unsafe, or None."""
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        return "control characters (NUL included) are not allowed"
    if "\\" in text:
        return "backslashes are not allowed"
    if text.startswith(("/", "~")):
        return "absolute paths are not allowed"
    if _DRIVE.match(text):
        return "drive letters are not allowed"
    if "://" in text:
        return "URLs are not allowed"
    for segment in text.split("/"):
        if segment.split(";", 1)[0] == "..":  # '..;' is '..' to servlet containers
            return "'..' segments are not allowed"
    return None


def _spellings(name: str) -> list[str]:
    """``name`` as given, Unicode-normalised, and percent-decoded as often as it changes."""
    found = [name]
    current = name
    for _ in range(_DECODE_ROUNDS):
        decoded = unquote(current)
        if decoded == current:
            break
        found.append(decoded)
        current = decoded
    found.extend([unicodedata.normalize("NFKC", s) for s in found])
    return found


def check_member_name(name: object, *, field: str = "path") -> str:
    """The normalised relative path ``name`` stands for, or InvalidInputError naming ``field``."""
    if not isinstance(name, str) or not name:
        raise InvalidInputError("a file name must be a non-empty string", field=field)
    if len(name) > MAX_NAME_LEN:
        raise _refuse(name[:60], f"longer than {MAX_NAME_LEN} characters", field)
    for spelling in _spellings(name):
        why = _problem(spelling)
        if why is not None:
            if spelling != name:
                why += f" (it reads {spelling[:60]!r} once decoded)"
            raise _refuse(name, why, field)
    segments = [s for s in name.split("/") if s not in ("", ".")]
    if not segments:
        raise _refuse(name, "it names no file", field)
    if any(len(s.encode("utf-8")) > MAX_SEGMENT_LEN for s in segments):
        raise _refuse(name, f"a segment is longer than {MAX_SEGMENT_LEN} bytes", field)
    return "/".join(segments)


def inside(root: Path, relative: str, *, field: str = "path") -> Path:
    """``root / relative`` after :func:`check_member_name`, refused unless it resolves inside
    ``root`` (a symbolic link leading out of it is refused)."""
    rel = check_member_name(relative, field=field)
    base = root.resolve()
    target = (base / rel).resolve()
    if not target.is_relative_to(base) or target == base:
        raise _refuse(relative, "it resolves outside the target folder", field)
    return target


# -- archives -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """Caps against archive bombs: members, total uncompressed bytes, zip compression ratio."""

    max_members: int = MAX_MEMBERS
    max_total_bytes: int = MAX_TOTAL_BYTES
    max_ratio: int = MAX_RATIO


class _Budget:
    def __init__(self, limits: Limits, field: str) -> None:
        self.limits = limits
        self.field = field
        self.members = 0
        self.bytes = 0
        self.names: set[str] = set()

    def member(self, name: str) -> str:
        self.members += 1
        if self.members > self.limits.max_members:
            raise PayloadTooLargeError(
                f"the archive has more than {self.limits.max_members} members", field=self.field
            )
        clean = check_member_name(name, field=self.field)
        if clean in self.names:
            raise _refuse(name, "the archive holds this name twice", self.field)
        self.names.add(clean)
        return clean

    def add(self, size: int) -> None:
        self.bytes += max(size, 0)
        if self.bytes > self.limits.max_total_bytes:
            raise PayloadTooLargeError(
                f"the archive unpacks to more than {self.limits.max_total_bytes} bytes",
                field=self.field,
            )


def extract_archive(
    archive: Path, dest: Path, *, limits: Limits | None = None, field: str = "archive"
) -> list[str]:
    """Unpack the tar or zip file ``archive`` into the existing empty folder ``dest``.

    Returns the normalised names of the files written. Anything unsafe raises
    InvalidInputError (PayloadTooLargeError for the caps) naming ``field``; the caller removes
    ``dest`` then (what was written so far stays in it).
    """
    limits = limits or Limits()
    dest = Path(dest)
    if not dest.is_dir() or dest.is_symlink() or any(dest.iterdir()):
        raise InvalidInputError(f"{dest} must be an existing empty folder", field=field)
    if zipfile.is_zipfile(archive):
        return _extract_zip(Path(archive), dest, _Budget(limits, field))
    try:
        if tarfile.is_tarfile(archive):
            return _extract_tar(Path(archive), dest, _Budget(limits, field))
    except (OSError, tarfile.TarError, EOFError) as exc:
        raise InvalidInputError(f"cannot read the archive: {exc}", field=field) from None
    raise InvalidInputError("not a tar or zip archive", field=field)


def _extract_tar(archive: Path, dest: Path, budget: _Budget) -> list[str]:
    field = budget.field
    written: list[str] = []
    try:
        with tarfile.open(archive, "r:*") as tar:
            members: list[tarfile.TarInfo] = []
            for member in tar:  # headers one by one: a huge member count stops at the cap
                name = budget.member(member.name)
                if member.issym() or member.islnk():
                    raise _refuse(member.name, "links are not allowed in archives", field)
                if not (member.isfile() or member.isdir()):
                    raise _refuse(member.name, "only files and folders are allowed", field)
                inside(dest, name, field=field)
                budget.add(member.size)
                member.name = name
                members.append(member)
                if member.isfile():
                    written.append(name)
            tar.extractall(dest, members=members, filter="data")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise InvalidInputError(f"cannot unpack the archive: {exc}", field=field) from None
    return written


def _zip_kind(info: zipfile.ZipInfo) -> str:
    kind = stat.S_IFMT(info.external_attr >> 16)  # 0: no Unix type recorded (a plain file)
    if stat.S_ISLNK(kind):
        return "link"
    if info.is_dir() or stat.S_ISDIR(kind):
        return "dir"
    return "file" if kind in (0, stat.S_IFREG) else "special"


def _extract_zip(archive: Path, dest: Path, budget: _Budget) -> list[str]:
    field = budget.field
    written: list[str] = []
    try:
        with zipfile.ZipFile(archive) as zf:
            plan: list[tuple[zipfile.ZipInfo, str, str]] = []
            for info in zf.infolist():
                name = budget.member(info.filename)
                kind = _zip_kind(info)
                if kind == "link":
                    raise _refuse(info.filename, "links are not allowed in archives", field)
                if kind == "special":
                    raise _refuse(info.filename, "only files and folders are allowed", field)
                if info.flag_bits & 0x1:
                    raise _refuse(info.filename, "encrypted members are not allowed", field)
                inside(dest, name, field=field)
                budget.add(info.file_size)
                if info.file_size > budget.limits.max_ratio * max(info.compress_size, 1):
                    raise PayloadTooLargeError(
                        f"archive member {name!r} is compressed more than "
                        f"{budget.limits.max_ratio}:1",
                        field=field,
                    )
                plan.append((info, name, kind))
            for info, name, kind in plan:
                target = inside(dest, name, field=field)
                if kind == "dir":
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                _copy_member(zf, info, target, name, field)
                written.append(name)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
        raise InvalidInputError(f"cannot unpack the archive: {exc}", field=field) from None
    return written


def _copy_member(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, name: str, field: str
) -> None:
    """Write one zip member, never more bytes than it declared (a lying header is refused)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with zf.open(info) as src, open(target, "xb") as out:
        while chunk := src.read(_CHUNK):
            count += len(chunk)
            if count > info.file_size:
                raise PayloadTooLargeError(
                    f"archive member {name!r} is larger than it declares", field=field
                )
            out.write(chunk)
    os.chmod(target, 0o644)


__all__ = [
    "MAX_MEMBERS",
    "MAX_TOTAL_BYTES",
    "Limits",
    "check_member_name",
    "extract_archive",
    "inside",
]
