"""files.* on real files and folders in tmp_path."""

from __future__ import annotations

import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from libs.context import StepContext
from libs.errors import StepArgumentError, SystemFailure
from libs.policy import AllowedFolder, Policy, Refused
from libs.registry import load_libraries
from libs.steps import files
from libs.steps.files import steps as file_steps


@pytest.fixture
def ctx(tmp_path: Path) -> StepContext:
    return StepContext.for_tests(tmp_path)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for name in ["downloads/对账单_0630.xlsx", "downloads/b.csv", "downloads/sub/深层.xlsx",
                 "downloads/~$对账单_0630.xlsx", "downloads/.hidden.xlsx"]:
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(name, encoding="utf-8")
    return tmp_path / "downloads"


def test_list_globs(ctx: StepContext, tree: Path) -> None:
    # neither Office's lock file (~$...) nor hidden files are listed
    assert files.list_files(ctx, "downloads/*.xlsx") == [str(tree / "对账单_0630.xlsx")]
    assert files.list_files(ctx, "downloads/**/*.xlsx")[-1] == str(tree / "对账单_0630.xlsx")
    assert str(tree / "sub" / "深层.xlsx") in files.list_files(ctx, "downloads/**/*.xlsx")
    assert files.list_files(ctx, "downloads") == sorted(
        str(tree / n) for n in ["b.csv", "对账单_0630.xlsx"])
    assert str(tree / "sub") in files.list_files(ctx, "downloads/*", files_only=False)
    assert files.list_files(ctx, str(tree / "*.csv")) == [str(tree / "b.csv")]
    assert files.list_files(ctx, "nothing/*.pdf") == []


def test_copy_and_move(ctx: StepContext, tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "output"
    copied = files.copy(ctx, "downloads/b.csv", "存档/")
    assert copied == str(out / "存档" / "b.csv") and Path(copied).read_text() == "downloads/b.csv"
    assert files.copy(ctx, "downloads/b.csv", "c.csv") == str(out / "c.csv")
    assert files.copy(ctx, "downloads/sub", "folder") == str(out / "folder")
    assert (out / "folder" / "深层.xlsx").is_file()
    with pytest.raises(Refused, match="in the robot's folder, which a robot never changes"):
        files.move(ctx, "downloads/对账单_0630.xlsx", "存档/对账单.xlsx")
    assert (tree / "对账单_0630.xlsx").exists()
    files.copy(ctx, "downloads/对账单_0630.xlsx", "downloads/")
    moved = files.move(ctx, "downloads/对账单_0630.xlsx", "存档/对账单.xlsx")
    assert moved == str(out / "存档" / "对账单.xlsx") and Path(moved).exists()
    assert not (out / "downloads" / "对账单_0630.xlsx").exists()
    assert [a.path for a in ctx.state.artifacts] == [
        copied, str(out / "c.csv"), str(out / "folder"),
        str(out / "downloads" / "对账单_0630.xlsx"), moved]
    with pytest.raises(SystemFailure, match=r"files.copy: file not found: .*none\.csv; check"):
        files.copy(ctx, "downloads/none.csv", "x.csv")
    with pytest.raises(StepArgumentError, match="are the same file"):
        files.copy(ctx, str(out / "c.csv"), "c.csv")


def test_delete(ctx: StepContext, tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "output"
    files.copy(ctx, "downloads", "work")
    files.delete(ctx, "work/b.csv")
    assert not (out / "work" / "b.csv").exists()
    files.delete(ctx, "work/b.csv")  # missing_ok
    with pytest.raises(SystemFailure, match="file not found"):
        files.delete(ctx, "work/b.csv", missing_ok=False)
    files.delete(ctx, "work/sub")
    assert not (out / "work" / "sub").exists()
    (tmp_path / "output" / "tmp.txt").write_text("x")
    files.delete(ctx, "tmp.txt")  # the run's own output file
    assert not (tmp_path / "output" / "tmp.txt").exists()


def test_delete_never_changes_the_robots_folder(ctx: StepContext, tree: Path) -> None:
    with pytest.raises(Refused, match="in the robot's folder, which a robot never changes"):
        files.delete(ctx, "downloads/b.csv")
    with pytest.raises(Refused, match="outside the folders this robot may write"):
        files.delete(ctx, str(tree / "b.csv"))
    assert (tree / "b.csv").exists()


@pytest.mark.parametrize("path", [".", "@output@", "..", "/", "@output@/.."])
def test_delete_refuses_the_robot_and_run_folders(ctx: StepContext, tree: Path,
                                                  path: str) -> None:
    with pytest.raises(StepArgumentError, match="refusing to delete"):
        files.delete(ctx, path.replace("@output@", str(ctx.output_dir)))
    assert tree.exists()


def test_delete_refuses_an_empty_path(ctx: StepContext) -> None:
    with pytest.raises(StepArgumentError, match="path is empty"):
        files.delete(ctx, " ")


def test_exists(ctx: StepContext, tree: Path, tmp_path: Path) -> None:
    assert files.exists(ctx, "downloads/b.csv") and files.exists(ctx, "downloads")
    assert not files.exists(ctx, "downloads/none.csv")
    (tmp_path / "output" / "made.txt").write_text("x")
    assert files.exists(ctx, "made.txt")  # written earlier in the run


def test_read_and_write_text(ctx: StepContext, tmp_path: Path) -> None:
    (tmp_path / "gbk.txt").write_bytes("对公账户年检\n".encode("gbk"))
    assert files.read_text(ctx, "gbk.txt") == "对公账户年检\n"
    out = files.write_text(ctx, "log/结果.txt", "第一行\n", encoding="utf-8-sig")
    files.write_text(ctx, "log/结果.txt", "第二行\n", encoding="utf-8-sig", append=True)
    assert Path(out).read_bytes() == "\ufeff第一行\n第二行\n".encode()  # one BOM only
    assert files.read_text(ctx, out) == "第一行\n第二行\n"
    assert len(ctx.state.artifacts) == 1
    files.write_text(ctx, "data.json", {"账号": "001"})
    assert files.read_text(ctx, str(tmp_path / "output" / "data.json")) == '{\n  "账号": "001"\n}'


def test_wait_for_file_written_later(tmp_path: Path) -> None:
    ctx = StepContext.for_tests(tmp_path, timeout=10)
    target = tmp_path / "downloads" / "对账单.xlsx"
    target.parent.mkdir()

    def download() -> None:
        time.sleep(0.5)
        partial = target.with_name(target.name + ".crdownload")
        partial.write_bytes(b"x" * 1000)
        time.sleep(0.5)  # a browser renames the file once it is complete
        partial.rename(target)

    writer = threading.Thread(target=download)
    writer.start()
    try:
        assert files.wait_for_file(ctx, "downloads/*") == str(target)
    finally:
        writer.join()


@pytest.fixture
def growing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[int]]:
    """Make each of the first four polls find the file larger than the poll before."""
    target = tmp_path / "report.csv"
    target.write_bytes(b"1")
    sizes: list[int] = []
    real_sleep = time.sleep

    def sleep(seconds: float) -> None:
        sizes.append(target.stat().st_size)
        if len(sizes) <= 4:
            with target.open("ab") as f:
                f.write(b"2" * 100)
        real_sleep(seconds)

    monkeypatch.setattr(file_steps.time, "sleep", sleep)
    yield sizes


def test_wait_for_file_waits_until_the_size_settles(tmp_path: Path,
                                                    growing: list[int]) -> None:
    ctx = StepContext.for_tests(tmp_path, timeout=10)
    found = files.wait_for_file(ctx, "*.csv")
    assert found == str(tmp_path / "report.csv")
    assert Path(found).stat().st_size == 401  # not returned while still growing
    assert len(growing) == 5


def test_wait_for_file_timeout_names_pattern_and_folder(tmp_path: Path) -> None:
    ctx = StepContext.for_tests(tmp_path, timeout=1)
    (tmp_path / "downloads").mkdir()
    with pytest.raises(SystemFailure) as err:
        files.wait_for_file(ctx, "downloads/*.xlsx")
    message = str(err.value)
    assert "'downloads/*.xlsx'" in message and f"in {tmp_path / 'downloads'} within 1s" in message


def test_zip_and_unzip_chinese_names(ctx: StepContext, tmp_path: Path) -> None:
    folder = tmp_path / "报表"
    (folder / "六月").mkdir(parents=True)
    (folder / "六月" / "对账单.csv").write_text("账号\n001\n", encoding="utf-8")
    (folder / "说明.txt").write_text("说明", encoding="utf-8")
    archive = files.zip_files(ctx, "报表", "报表.zip")
    assert archive == str(tmp_path / "output" / "报表.zip")
    with zipfile.ZipFile(archive) as zf:
        assert sorted(zf.namelist()) == ["报表/六月/对账单.csv", "报表/说明.txt"]
        assert all(i.flag_bits & 0x800 for i in zf.infolist())
    extracted = files.unzip(ctx, archive, "解压")
    assert sorted(extracted) == sorted(str(tmp_path / "output" / "解压" / "报表" / n)
                                       for n in ["六月/对账单.csv", "说明.txt"])
    assert Path(extracted[0]).read_text(encoding="utf-8") in {"账号\n001\n", "说明"}


def test_zip_a_glob_and_a_file(ctx: StepContext, tree: Path) -> None:
    with zipfile.ZipFile(files.zip_files(ctx, "downloads/**/*.xlsx", "x.zip")) as zf:
        assert sorted(zf.namelist()) == ["sub/深层.xlsx", "对账单_0630.xlsx"]
    with zipfile.ZipFile(files.zip_files(ctx, "downloads/b.csv", "one.zip")) as zf:
        assert zf.namelist() == ["b.csv"]
    with pytest.raises(SystemFailure, match=r"nothing to zip: 'downloads/\*\.pdf' matches no"):
        files.zip_files(ctx, "downloads/*.pdf", "none.zip")


def test_unzip_gbk_names_from_windows(ctx: StepContext, tmp_path: Path) -> None:
    """Chinese Windows writes GBK names with no UTF-8 flag; zipfile reads them as cp437."""
    name = "对账单.txt".encode("gbk")
    placeholder = b"X" * (len(name) - 4) + b".txt"
    path = tmp_path / "win.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(placeholder.decode(), "内容")
    path.write_bytes(path.read_bytes().replace(placeholder, name))
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist() != ["对账单.txt"]  # what zipfile alone would give
    assert files.unzip(ctx, "win.zip", "out") == [str(tmp_path / "output" / "out" / "对账单.txt")]


@pytest.mark.parametrize("evil", ["../逃逸.txt", "a/../../逃逸.txt", "/etc/逃逸.txt",
                                  "..\\逃逸.txt", "C:/逃逸.txt"])
def test_unzip_refuses_zip_slip(ctx: StepContext, tmp_path: Path, evil: str) -> None:
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as zf:
        zf.writestr("ok.txt", "fine")
        zf.writestr(zipfile.ZipInfo(evil), "pwned")
    with pytest.raises(SystemFailure) as err:
        files.unzip(ctx, "evil.zip", "out")
    assert "zip-slip" in str(err.value) and "nothing was extracted" in str(err.value)
    assert not (tmp_path / "output" / "out" / "ok.txt").exists()
    assert not any(p.name == "逃逸.txt" for p in tmp_path.rglob("*"))


def test_unzip_not_a_zip(ctx: StepContext, tmp_path: Path) -> None:
    (tmp_path / "a.zip").write_text("not a zip")
    with pytest.raises(SystemFailure, match=r"cannot read .*a\.zip as a zip archive"):
        files.unzip(ctx, "a.zip", "out")


def test_registered() -> None:
    steps = load_libraries()
    assert {n for n in steps if n.startswith("files.")} == {
        "files.list", "files.copy", "files.move", "files.delete", "files.exists",
        "files.wait_for_file", "files.read_text", "files.write_text", "files.zip",
        "files.unzip"}
    assert steps["files.wait_for_file"].main == "pattern"
    assert steps["files.list"].main == "pattern" and steps["files.delete"].main == "path"


def test_unzip_refuses_a_bomb_before_writing_it(ctx: StepContext, tmp_path: Path) -> None:
    with (zipfile.ZipFile(tmp_path / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as zf,
          zf.open("zeros.bin", "w", force_zip64=True) as f):
        for _ in range(8):
            f.write(b"\0" * 1024 * 1024)
    with pytest.raises(SystemFailure, match="more than 200 times its packed size"):
        files.unzip(ctx, "bomb.zip", "out")
    assert not (tmp_path / "output" / "out" / "zeros.bin").exists()


def test_unzip_counts_bytes_since_headers_can_lie(ctx: StepContext, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from libs.steps.files import archive

    (tmp_path / "big.zip").write_bytes(b"")
    with zipfile.ZipFile(tmp_path / "big.zip", "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("a.bin", b"x" * 300_000)
    monkeypatch.setattr(archive, "MAX_UNPACKED", 100_000)
    with pytest.raises(SystemFailure, match="unpack to 300,000 bytes, more than 100,000"):
        files.unzip(ctx, "big.zip", "out")
    real_check = archive._check_headers
    monkeypatch.setattr(archive, "_check_headers", lambda plan, path: None)  # a lying header
    with pytest.raises(SystemFailure, match="unpacks to more than 100,000 bytes"):
        files.unzip(ctx, "big.zip", "out")
    assert not (tmp_path / "output" / "out" / "a.bin").exists()  # the partial file is removed
    monkeypatch.setattr(archive, "_check_headers", real_check)
    monkeypatch.setattr(archive, "MAX_MEMBERS", 0)
    with pytest.raises(SystemFailure, match="holds 1 members, more than 0"):
        files.unzip(ctx, "big.zip", "out")


def test_unzip_refuses_link_members(ctx: StepContext, tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "link.zip", "w") as zf:
        info = zipfile.ZipInfo("escape")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "/etc")
    with pytest.raises(SystemFailure, match="'escape' is a symbolic link"):
        files.unzip(ctx, "link.zip", "out")
    assert not (tmp_path / "output" / "out" / "escape").exists()


def test_listing_is_capped_and_bounded(ctx: StepContext, tree: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from libs.steps.files import listing

    monkeypatch.setattr(listing, "MAX_ENTRIES", 3)
    with pytest.raises(StepArgumentError, match="holds more than 3 files and folders"):
        files.list_files(ctx, "downloads/**/*.xlsx")
    with pytest.raises(Refused, match="outside the folders this robot may read"):
        files.list_files(ctx, "/proc/**")
    slow = StepContext.for_tests(ctx.robot_dir, timeout=0)
    with pytest.raises(SystemFailure, match="took longer than the step's 0s timeout"):
        files.list_files(slow, "downloads/*")


def test_links_out_of_the_reach_are_not_listed_or_copied(ctx: StepContext, tree: Path,
                                                         tmp_path: Path) -> None:
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (outside / "secret.xlsx").write_text("secret")
    (tree / "link.xlsx").symlink_to(outside / "secret.xlsx")
    assert str(tree / "link.xlsx") not in files.list_files(ctx, "downloads/*.xlsx")
    with pytest.raises(Refused, match="outside the folders this robot may read"):
        files.copy(ctx, "downloads", "copied")
    with pytest.raises(Refused, match="outside the folders this robot may read"):
        files.read_text(ctx, "downloads/link.xlsx")
    with pytest.raises(Refused, match="outside the folders this robot may read"):
        files.exists(ctx, str(outside / "secret.xlsx"))


def test_an_allowed_folder_is_read_and_written(tmp_path: Path) -> None:
    share = tmp_path / "share"
    share.mkdir()
    (share / "in.txt").write_text("导出")
    ctx = StepContext.for_tests(tmp_path / "robot",
                                policy=Policy(folders=(AllowedFolder(share, True),)))
    assert files.read_text(ctx, str(share / "in.txt")) == "导出"
    assert files.write_text(ctx, str(share / "out.txt"), "x") == str(share / "out.txt")
    read_only = StepContext.for_tests(tmp_path / "robot2",
                                      policy=Policy(folders=(AllowedFolder(share, False),)))
    with pytest.raises(Refused, match="may write"):
        files.write_text(read_only, str(share / "out2.txt"), "x")
