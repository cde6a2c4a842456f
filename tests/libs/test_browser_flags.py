"""Chromium flags in settings.browser.args come from an allow-list (libs/browser_flags.py),
checked by `workhand check` at the offending item and again when the browser starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from libs.browser_flags import check_flag, flags_markdown, proxy_hosts
from libs.checker import check_file
from libs.errors import RobotFileError

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("flag", [
    "--window-size=1920,1080", "--lang=zh-CN", "--proxy-server=http://proxy.bank.local:8080",
    "--proxy-server=proxy.bank.local:3128", "--ignore-certificate-errors",
    "--force-device-scale-factor=1.5", "--disable-gpu", "--proxy-bypass-list=*.bank.local",
    "--font-render-hinting=none"])
def test_allowed_flags_pass(flag: str) -> None:
    assert check_flag(flag) is None


@pytest.mark.parametrize("flag", [
    "--renderer-cmd-prefix=/usr/bin/python3 payload.py", "--remote-debugging-address=0.0.0.0",
    "--remote-debugging-port=9222", "--remote-debugging-pipe", "--utility-cmd-prefix=sh",
    "--gpu-launcher=sh", "--browser-subprocess-path=/bin/sh", "--user-data-dir=/root",
    "--load-extension=ext", "--disable-web-security", "--no-sandbox", "--proxy-pac-url=file:///x",
    "--enable-features=X", "--host-resolver-rules=MAP * 10.0.0.1", "--window-size",
    # the worker machine's own Windows/Kerberos account is the platform's, not the robot's
    "--auth-server-allowlist=*.bank.local"])
def test_other_flags_are_refused(flag: str) -> None:
    assert check_flag(flag) is not None


@pytest.mark.parametrize("flag", [
    "--window-size=big", "--lang=zh CN; rm", "--force-device-scale-factor=99",
    "--proxy-server=file:///etc/passwd", "--proxy-server=", "--disable-gpu=1",
    "--proxy-server=http://proxy:80/path"])
def test_allowed_flags_with_bad_values_are_refused(flag: str) -> None:
    assert check_flag(flag) is not None


def test_proxy_hosts_are_read_from_every_form() -> None:
    assert proxy_hosts("http://p1.bank:8080") == ["p1.bank"]
    assert proxy_hosts("http=p1:80;https=p2:443") == ["p1", "p2"]
    assert proxy_hosts("socks5://10.0.0.5:1080") == ["10.0.0.5"]


def test_check_points_at_the_offending_item(tmp_path: Path) -> None:
    robot = tmp_path / "r.yaml"
    robot.write_text("robot: r\nsettings:\n  browser:\n    args:\n      - --lang=zh-CN\n"
                     "      - --remote-debugging-port=9222\n    executable: /bin/sh\n"
                     "steps:\n  - log: hi\n", encoding="utf-8")
    with pytest.raises(RobotFileError) as caught:
        check_file(robot, shown_as="r.yaml")
    found = [str(p) for p in caught.value.problems]
    assert any(p.startswith("r.yaml:6:9: the Chromium flag '--remote-debugging-port' is not "
                            "allowed") for p in found), found
    assert any(p.startswith("r.yaml:7:5: a robot may not choose the browser program")
               for p in found), found
    assert len(found) == 2


def test_an_expression_in_args_is_left_to_the_launch(tmp_path: Path) -> None:
    robot = tmp_path / "r.yaml"
    robot.write_text('robot: r\nsettings:\n  browser:\n    args: ["${env.FLAGS}"]\n'
                     "steps:\n  - log: hi\n", encoding="utf-8")
    check_file(robot)


def test_the_documented_list_is_the_allowed_one() -> None:
    docs = (ROOT / "docs" / "robots.md").read_text(encoding="utf-8")
    assert "\n  ".join(flags_markdown().splitlines()) in docs, "docs/robots.md lists other flags"


def test_at_launch_flags_and_the_proxy_host_are_checked() -> None:
    from types import SimpleNamespace

    from libs.policy import Policy, Refused
    from libs.steps.browser.session import BrowserSession, BrowserSettings

    session = BrowserSession.__new__(BrowserSession)
    session.ctx = SimpleNamespace(policy=Policy(hosts=("*.bank.local",)))  # type: ignore[assignment]
    ok = BrowserSettings(args=["--lang=zh-CN", "--proxy-server=http://proxy.bank.local:8080"])
    assert session._args(ok) == ok.args
    for args, said in [(["--renderer-cmd-prefix=sh"], "not allowed"),
                       (["--proxy-server=http://evil.example:80"], "proxy host 'evil.example'")]:
        with pytest.raises(Refused, match=said):
            session._args(BrowserSettings(args=args))
