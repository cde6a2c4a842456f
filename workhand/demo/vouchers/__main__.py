"""python -m workhand.demo.vouchers --count 50 --seed 1 --out DIR: write a voucher batch."""

from __future__ import annotations

import argparse
from collections import Counter

from workhand.demo.vouchers.degrade import QUALITIES
from workhand.demo.vouchers.generator import generate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m workhand.demo.vouchers",
        description="Generate scanned bank vouchers, their transaction records (交易流水.xlsx) "
                    "and truth.json (planted mismatches) for the S4 voucher check.")
    parser.add_argument("--count", type=int, default=50, help="vouchers to write (50)")
    parser.add_argument("--seed", type=int, default=1, help="same seed, same files (1)")
    parser.add_argument("--out", required=True, help="folder to write into")
    parser.add_argument("--mismatch-rate", type=float, default=0.3,
                        help="share of vouchers with planted mismatches (0.3)")
    parser.add_argument("--quality", choices=QUALITIES, default="scanned",
                        help="scan effects: clean, scanned (default) or poor")
    args = parser.parse_args(argv)
    vouchers = generate(args.out, args.count, args.seed, args.mismatch_rate, args.quality)
    kinds = Counter(m.kind for v in vouchers for m in v.mismatches)
    planted = sum(1 for v in vouchers if v.mismatches)
    print(f"{len(vouchers)} vouchers ({args.quality}) in {args.out}: {planted} with planted "
          f"mismatches ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items())) or 'none'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
