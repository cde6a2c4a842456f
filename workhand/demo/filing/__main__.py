"""python -m workhand.demo.filing --data DIR [--users FILE] [--slow SECONDS] [--busy-every N]
(or --layout: where everything is drawn, as JSON)"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from workhand.demo.filing.tellers import load_tellers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m workhand.demo.filing",
        description="账户备案系统（演示）: a legacy desktop filing client for desktop robots.")
    parser.add_argument("--layout", action="store_true",
                        help="print where every field and button is (JSON) and exit")
    parser.add_argument("--data", type=Path,
                        help="folder of the client's records (filings.sqlite3 is made there)")
    parser.add_argument("--users", type=Path, default=None,
                        help='JSON file of tellers, {"0101": "password"}; default: 0101 and 0102 '
                             "with the password Filing@2026")
    parser.add_argument("--slow", type=float, default=0.0, metavar="SECONDS",
                        help="how long the back end takes to accept a filing (正在提交…)")
    parser.add_argument("--busy-every", type=int, default=0, metavar="N",
                        help="answer 系统繁忙，请稍后重试 to every Nth valid filing, filing "
                             "nothing (a robot's retry); 0, the default: never")
    args = parser.parse_args(argv)
    if args.layout:
        from workhand.demo.filing.layout import describe

        print(json.dumps(describe(), ensure_ascii=False, indent=2))
        return 0
    if args.data is None:
        parser.error("--data DIR is required")
    try:
        tellers = load_tellers(args.users)
    except (OSError, ValueError) as error:
        parser.error(str(error))
    from workhand.demo.filing.app import run  # Tk only now: --help needs no display

    try:
        return run(args.data, tellers, args.slow, args.busy_every)
    except Exception as error:  # no display, a data folder that cannot be written
        print(f"账户备案系统 cannot start: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
