"""File names from outside and archives: every traversal spelling refused (the check itself, the
upload route over HTTP, MLflow imports), links and device members refused, bombs capped, and
nothing ever written outside the target folder."""

from __future__ import annotations

import io
import json
import random
import stat
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import modelplane as mp
from modelplane.core.safepaths import Limits, check_member_name, extract_archive
from modelplane.errors import FlavorError, InvalidInputError, PayloadTooLargeError
from modelplane.serving.app import create_app

UPLOAD = {"X-Modelplane-Upload": "1"}  # what mp.Client sends with uploads
TRAVERSAL = [
    "../evil",
    "a/../../evil",
    "a/b/../../../evil",
    "..",
    "/etc/passwd",
    "~/evil",
    "C:evil",
    "C:\\Windows\\evil",
    "\\\\host\\share\\evil",
    "..\\evil",
    "a\\..\\..\\evil",
    "model.joblib\x00.txt",
    "a/\nb",
    "%2e%2e%2fevil",
    "%2e%2e/evil",
    "..%2fevil",
    "%2E%2E%5Cevil",
    "%252e%252e%252fevil",
    "%25252e%25252e%25252fevil",
    "..;/evil",
    "a/..;/..;/evil",
    "\uff0e\uff0e/evil",  # fullwidth dots: '..' once Unicode-normalised
    "\uff0e\uff0e\uff0fevil",
    "file:///etc/passwd",
    "%2fetc%2fpasswd",
    "",
    ".",
    "./",
]


@pytest.mark.parametrize("name", TRAVERSAL)
def test_traversal_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        check_member_name(name, field="files")
    assert err.value.field == "files"
    assert err.value.http_status == 400


@pytest.mark.parametrize(
    ("name", "clean"),
    [
        ("MLmodel", "MLmodel"),
        ("./MLmodel", "MLmodel"),
        ("data/model.xgb", "data/model.xgb"),
        ("a//b/", "a/b"),
        ("...", "..."),
        ("model%20v1.pkl", "model%20v1.pkl"),
        ("..data/x", "..data/x"),
    ],
)
def test_plain_relative_names_pass_normalised(name: str, clean: str) -> None:
    assert check_member_name(name) == clean


# -- archives -----------------------------------------------------------------------------------


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]], mode: str = "w") -> Path:
    with tarfile.open(path, mode) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _file(name: str, data: bytes = b"x", mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.mode = mode
    return info, data


def _special(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info, None


def _zip(path: Path, members: list[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return path


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    folder = tmp_path / "box" / "out"
    folder.mkdir(parents=True)
    return folder


def _nothing_escaped(tmp_path: Path) -> None:
    for path in tmp_path.rglob("*"):
        assert "evil" not in path.name, path
    assert not (tmp_path / "box" / "evil").exists()


def test_a_clean_tar_and_zip_unpack(tmp_path: Path, dest: Path) -> None:
    tar = _tar(
        tmp_path / "m.tar.gz",
        [_file("./MLmodel", b"flavors: {}"), _file("data/model.xgb", b"{}")],
        "w:gz",
    )
    assert sorted(extract_archive(tar, dest)) == ["MLmodel", "data/model.xgb"]
    assert (dest / "data" / "model.xgb").read_bytes() == b"{}"
    other = tmp_path / "z"
    other.mkdir()
    zipped = _zip(tmp_path / "m.zip", [("MLmodel", b"a"), ("data/", b""), ("data/x.bin", b"b")])
    assert sorted(extract_archive(zipped, other)) == ["MLmodel", "data/x.bin"]
    assert (other / "data" / "x.bin").read_bytes() == b"b"


# tar cannot carry NUL in names; the rest are valid member names
IN_TAR = [n for n in TRAVERSAL if n not in ("", ".", "./") and "\x00" not in n]


@pytest.mark.parametrize("name", IN_TAR)
def test_tar_members_with_traversal_names_are_refused(
    tmp_path: Path, dest: Path, name: str
) -> None:
    tar = _tar(tmp_path / "t.tar", [_file("ok.txt"), _file(name)])
    with pytest.raises(InvalidInputError, match="unsafe file name") as err:
        extract_archive(tar, dest)
    assert err.value.field == "archive"
    assert not any(dest.iterdir())  # refused before anything was written
    _nothing_escaped(tmp_path)


@pytest.mark.parametrize("name", ["../evil", "/evil", "..\\evil", "%2e%2e%2fevil", "..;/evil"])
def test_zip_members_with_traversal_names_are_refused(
    tmp_path: Path, dest: Path, name: str
) -> None:
    zipped = _zip(tmp_path / "t.zip", [("ok.txt", b"x"), (name, b"payload")])
    with pytest.raises(InvalidInputError, match="unsafe file name"):
        extract_archive(zipped, dest)
    assert not any(dest.iterdir())
    _nothing_escaped(tmp_path)


@pytest.mark.parametrize(
    ("member", "why"),
    [
        (_special("link", tarfile.SYMTYPE, "/etc/passwd"), "links"),
        (_special("up", tarfile.SYMTYPE, ".."), "links"),
        (_special("inner", tarfile.SYMTYPE, "ok.txt"), "links"),  # even pointing inside
        (_special("hard", tarfile.LNKTYPE, "ok.txt"), "links"),
        (_special("hard-out", tarfile.LNKTYPE, "/etc/passwd"), "links"),
        (_special("null", tarfile.CHRTYPE), "only files and folders"),
        (_special("disk", tarfile.BLKTYPE), "only files and folders"),
        (_special("pipe", tarfile.FIFOTYPE), "only files and folders"),
    ],
)
def test_tar_links_and_devices_are_refused(
    tmp_path: Path, dest: Path, member: tuple[tarfile.TarInfo, None], why: str
) -> None:
    tar = _tar(tmp_path / "t.tar", [_file("ok.txt"), member])
    with pytest.raises(InvalidInputError, match=why):
        extract_archive(tar, dest)
    assert not any(dest.iterdir())


def test_a_link_then_a_file_through_it_never_escapes(tmp_path: Path, dest: Path) -> None:
    """The classic: a symlink to a folder outside, then a file written "into" the link."""
    outside = tmp_path / "box" / "outside"
    outside.mkdir()
    tar = _tar(
        tmp_path / "t.tar",
        [_special("sub", tarfile.SYMTYPE, str(outside)), _file("sub/evil.txt")],
    )
    with pytest.raises(InvalidInputError):
        extract_archive(tar, dest)
    assert not any(outside.iterdir())


def test_zip_symlink_members_are_refused(tmp_path: Path, dest: Path) -> None:
    link = zipfile.ZipInfo("link")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    zipped = _zip(tmp_path / "t.zip", [("ok.txt", b"x"), (link, b"/etc/passwd")])
    with pytest.raises(InvalidInputError, match="links"):
        extract_archive(zipped, dest)
    assert not (dest / "link").exists()


def test_duplicate_members_are_refused(tmp_path: Path, dest: Path) -> None:
    tar = _tar(tmp_path / "t.tar", [_file("a.txt", b"1"), _file("./a.txt", b"2")])
    with pytest.raises(InvalidInputError, match="twice"):
        extract_archive(tar, dest)


def test_the_data_filter_drops_special_permission_bits(tmp_path: Path, dest: Path) -> None:
    tar = _tar(tmp_path / "t.tar", [_file("run.sh", b"#!/bin/sh\n", mode=0o6777)])
    extract_archive(tar, dest)
    mode = (dest / "run.sh").stat().st_mode
    assert not mode & (stat.S_ISUID | stat.S_ISGID)
    assert not mode & stat.S_IWOTH


def test_member_count_and_total_size_are_capped(tmp_path: Path, dest: Path) -> None:
    many = _tar(tmp_path / "many.tar", [_file(f"f{i}") for i in range(20)])
    with pytest.raises(PayloadTooLargeError, match="more than 10 members"):
        extract_archive(many, dest, limits=Limits(max_members=10))
    big = _tar(
        tmp_path / "big.tar.gz", [_file("a", b"\0" * 6000), _file("b", b"\0" * 6000)], "w:gz"
    )
    with pytest.raises(PayloadTooLargeError, match="more than 10000 bytes"):
        extract_archive(big, dest, limits=Limits(max_total_bytes=10_000))
    noise = random.Random(0).randbytes(6000)  # incompressible: the ratio cap stays out of it
    zipped = _zip(tmp_path / "big.zip", [("a", noise), ("b", noise)])
    with pytest.raises(PayloadTooLargeError, match="more than 10000 bytes"):
        extract_archive(zipped, dest, limits=Limits(max_total_bytes=10_000))
    assert not any(dest.iterdir())


def test_a_zip_bomb_is_refused_by_its_compression_ratio(tmp_path: Path, dest: Path) -> None:
    bomb = _zip(tmp_path / "bomb.zip", [("zeros.bin", b"\0" * (8 * 1024 * 1024))])
    info = zipfile.ZipFile(bomb).getinfo("zeros.bin")
    assert info.file_size > 200 * info.compress_size  # what a bomb looks like
    with pytest.raises(PayloadTooLargeError, match="compressed more than"):
        extract_archive(bomb, dest)
    assert not any(dest.iterdir())


def test_the_target_must_be_an_empty_folder_and_the_input_an_archive(
    tmp_path: Path, dest: Path
) -> None:
    (dest / "planted").write_text("x")
    tar = _tar(tmp_path / "t.tar", [_file("ok.txt")])
    with pytest.raises(InvalidInputError, match="empty folder"):
        extract_archive(tar, dest)
    other = tmp_path / "o"
    other.mkdir()
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not an archive at all")
    with pytest.raises(InvalidInputError, match="not a tar or zip"):
        extract_archive(junk, other)


# -- names arriving with requests -----------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["..\\model.joblib", "%2e%2e%2fmodel.joblib", "..;/model.joblib", "．．/model.joblib"]
)
def test_the_upload_route_names_traversal_in_file_names(sqlite_ws: Any, name: str) -> None:
    meta = {"flavor": "onnx", "flavor_info": {"files": ["model.onnx"]}, "signature": {}}
    app = create_app(sqlite_ws, poll_interval=0.2)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        r = client.post(
            "/api/v1/models/m/versions",
            data={"meta": json.dumps(meta)},
            headers=UPLOAD,
            files=[
                ("files", ("model.onnx", b"x", "application/octet-stream")),
                ("files", (name, b"payload", "application/octet-stream")),
            ],
        )
        assert r.status_code == 400, r.text
        body = r.json()
        assert body["field"] == "files" and "unsafe file name" in body["message"]
        assert client.get("/api/v1/models/m").status_code == 404


@pytest.mark.parametrize("payload", ["%2e%2e/secret.pkl", "..;/secret.pkl", "．．/secret.pkl"])
def test_mlflow_imports_refuse_encoded_traversal(
    sqlite_ws: Any, tmp_path: Path, payload: str
) -> None:
    (tmp_path / "secret.pkl").write_bytes(b"not for you")
    model = tmp_path / "model"
    model.mkdir()
    (model / "MLmodel").write_text(
        f"flavors:\n  sklearn:\n    pickled_model: '{payload}'\n", encoding="utf-8"
    )
    with pytest.raises(FlavorError, match="relative path inside the model") as err:
        mp.import_model(model, "imported")
    assert err.value.field == "pickled_model"
