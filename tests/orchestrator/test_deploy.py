"""Bundles are bounded: members, unpacked size and ratio, at deploy and in every worker's
unpack, which counts the bytes it writes (a zip's headers can lie)."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import pytest

from libs.errors import RobotFileError
from orchestrator import deploy

ROBOT = "robot: bounded\nsteps:\n  - log: hi\n"


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_a_zip_bomb_is_refused_by_unpack(tmp_path: Path) -> None:
    bomb = zipped({"bounded.yaml": ROBOT.encode(), "data/zeros.bin": bytes(8 * 2**20)})
    with pytest.raises(deploy.BundleTooLarge, match="zip bomb"):
        deploy.unpack(bomb, tmp_path)
    assert not (tmp_path / "data" / "zeros.bin").exists()


def test_unpack_counts_bytes_not_headers(tmp_path: Path) -> None:
    data = bytes(range(256)) * 400  # 100 KiB that compresses little
    bundle = bytearray(zipped({"bounded.yaml": ROBOT.encode(), "data/x.bin": data}))
    # both headers of data/x.bin now claim 1,000 bytes unpacked
    local = bundle.index(b"PK\x03\x04data/x.bin"[:4], 1)
    central = bundle.index(b"PK\x01\x02", bundle.index(b"PK\x01\x02") + 1)
    struct.pack_into("<I", bundle, local + 22, 1000)
    struct.pack_into("<I", bundle, central + 24, 1000)
    with pytest.raises(ValueError, match=r"x\.bin"):
        deploy.unpack(bytes(bundle), tmp_path)
    written = tmp_path / "data" / "x.bin"
    assert not written.exists() or written.stat().st_size <= 1000


def test_member_count_and_size_are_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    monkeypatch.setattr(deploy, "MAX_FILES", 5)
    many = zipped({"bounded.yaml": ROBOT.encode(), **{f"data/{n}.txt": b"x" for n in range(5)}})
    with pytest.raises(deploy.BundleTooLarge, match="6 files"):
        deploy.unpack(many, tmp_path / "a")
    monkeypatch.setattr(deploy, "MAX_FILES", 100)
    monkeypatch.setattr(deploy, "MAX_UNPACKED", 1000)
    big = zipped({"bounded.yaml": ROBOT.encode(), "data/big.txt": b"y" * 2000})
    with pytest.raises(deploy.BundleTooLarge, match="unpacks to more than"):
        deploy.unpack(big, tmp_path / "b")


def test_a_folder_over_the_limits_is_not_deployed(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "bounded.yaml").write_text(ROBOT, encoding="utf-8")
    (tmp_path / "data").mkdir()
    for n in range(4):
        (tmp_path / "data" / f"{n}.csv").write_text("a\n" * 300, encoding="utf-8")
    monkeypatch.setattr(deploy, "MAX_FILES", 3)
    with pytest.raises(deploy.BundleTooLarge, match="at most 3"):
        deploy.deploy_robot(None, tmp_path / "bounded.yaml")  # type: ignore[arg-type]
    monkeypatch.setattr(deploy, "MAX_FILES", 100)
    monkeypatch.setattr(deploy, "MAX_UNPACKED", 1000)
    with pytest.raises(deploy.BundleTooLarge, match="MAX_BUNDLE_UNPACKED_BYTES"):
        deploy.deploy_robot(None, tmp_path / "bounded.yaml")  # type: ignore[arg-type]


def test_a_robot_id_is_at_most_100_characters(tmp_path: Path) -> None:
    path = tmp_path / "long.yaml"
    path.write_text(ROBOT.replace("bounded", "a" * 101), encoding="utf-8")
    with pytest.raises(RobotFileError, match="at most 100 characters"):
        deploy.deploy_robot(None, path)  # type: ignore[arg-type]
