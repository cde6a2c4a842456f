"""libs/policy.py's Reach: what a run may read and write, real paths and links included."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from libs.context import StepContext
from libs.policy import AllowedFolder, Policy, Reach, Refused


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Path]:
    names = {n: tmp_path / n for n in ("bundle", "out", "share", "drop", "outside")}
    for folder in names.values():
        folder.mkdir()
    (names["outside"] / "secret.txt").write_text("secret")
    (names["bundle"] / "data.csv").write_text("a,b")
    return names


def reach(world: dict[str, Path]) -> Reach:
    policy = Policy(folders=(AllowedFolder(world["share"], False),
                             AllowedFolder(world["drop"], True)))
    return Reach.of(policy, world["bundle"], world["out"])


def test_reads_inside_the_bundle_the_output_and_allowed_folders(world: dict[str, Path]) -> None:
    r = reach(world)
    for name in ("bundle", "out", "share", "drop"):
        assert r.readable(world[name] / "x.txt", "t") == world[name] / "x.txt"
    with pytest.raises(Refused, match=r"is outside the folders this robot may read .*"
                                      r"--allow-read DIR"):
        r.readable(world["outside"] / "secret.txt", "files.read_text")
    with pytest.raises(Refused, match="outside"):
        r.readable(world["bundle"] / ".." / "outside" / "secret.txt", "t")


def test_writes_only_inside_the_output_and_writable_folders(world: dict[str, Path]) -> None:
    r = reach(world)
    assert r.writable(world["out"] / "a" / "b.txt", "t") == world["out"] / "a" / "b.txt"
    assert r.writable(world["drop"] / "b.txt", "t") == world["drop"] / "b.txt"
    for name in ("bundle", "share", "outside"):
        with pytest.raises(Refused, match="outside the folders this robot may write"):
            r.writable(world[name] / "x.txt", "t")


def test_links_are_followed_to_where_they_lead(world: dict[str, Path]) -> None:
    r = reach(world)
    (world["bundle"] / "passwd").symlink_to("/etc/passwd")
    with pytest.raises(Refused, match=r"\(it leads to /etc/passwd\)"):
        r.readable(world["bundle"] / "passwd", "t")
    (world["out"] / "escape").symlink_to(world["outside"])
    with pytest.raises(Refused, match="may write"):
        r.writable(world["out"] / "escape" / "planted.txt", "t")
    (world["out"] / "dangling").symlink_to(world["outside"] / "new.txt")
    with pytest.raises(Refused, match="may write"):
        r.writable(world["out"] / "dangling", "t")
    (world["bundle"] / "inside").symlink_to(world["bundle"] / "data.csv")
    assert r.readable(world["bundle"] / "inside", "t") == world["bundle"] / "data.csv"


def test_kernel_and_device_trees_are_never_inside_a_root(world: dict[str, Path]) -> None:
    r = Reach.of(Policy(folders=(AllowedFolder(Path("/"), True),)), world["bundle"],
                 world["out"])
    assert r.can_read("/etc/hostname")
    for path in (f"/proc/{os.getpid()}/environ", "/sys/kernel", "/dev/null"):
        assert not r.can_read(path) and not r.can_write(path)


def test_roots_and_folders_above_them_are_never_removed(world: dict[str, Path]) -> None:
    r = reach(world)
    for path in (world["out"], world["drop"], world["out"].parent, Path("/")):
        with pytest.raises(Refused, match="refusing to delete or move"):
            r.removable(path, "files.delete")
    assert r.removable(world["out"] / "x.txt", "t") == world["out"] / "x.txt"


def test_a_called_robot_does_not_widen_the_bundle(tmp_path: Path) -> None:
    ctx = StepContext.for_tests(tmp_path / "bundle")
    (tmp_path / "bundle" / "sub").mkdir()
    (tmp_path / "beside.txt").write_text("x")
    called = StepContext(ctx.state, tmp_path / "bundle" / "sub", ctx.pos)
    assert called.input_path("../data.csv") == tmp_path / "bundle" / "data.csv"
    with pytest.raises(Refused):
        called.input_path("../../beside.txt")


def test_relative_paths_resolve_in_the_output_then_the_robot_folder(tmp_path: Path) -> None:
    ctx = StepContext.for_tests(tmp_path)
    (tmp_path / "a.txt").write_text("robot")
    assert ctx.input_path("a.txt") == tmp_path / "a.txt"
    (ctx.output_dir / "a.txt").write_text("run")
    assert ctx.input_path("a.txt") == ctx.output_dir / "a.txt"
    assert ctx.output_path("sub/b.txt") == ctx.output_dir / "sub" / "b.txt"
    with pytest.raises(Refused):
        ctx.output_path(tmp_path / "b.txt")


def test_allowed_folders_round_trip_through_the_spec(world: dict[str, Path]) -> None:
    policy = Policy(folders=(AllowedFolder(world["share"], False),
                             AllowedFolder(world["drop"], True)), hosts=("*.bank.cn",))
    assert Policy.from_spec(policy.to_spec()) == policy
