"""RapidOCR on generated S4 vouchers: seconds per voucher, and which fields it reads wrongly.

    ORT_DISABLE_TELEMETRY=1 .venv/bin/python bench/voucher_ocr.py [--count 20] [--seed 11]
        [--qualities clean,scanned,poor] [--no-cls] [--json out.json]

For each quality: generate ``count`` vouchers (timed separately), read each whole image once with
RapidOCR (the packaged PP-OCR models, detector limited to 960 px on the long side; one warm-up
read first, not timed), and look for every printed field in what it read. A field counts as read
when its text, compared loosely (no spaces, half/full-width ￥ ( ) : alike), is inside one OCR
line; otherwise the closest line is shown. This is the raw engine on the whole page — the
documents step's anchors, normalisers and crops are measured on top of it. ``--no-cls`` turns
off the text-direction classifier (the vouchers are upright within a few degrees).
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from workhand.demo.vouchers import generate

FIELDS = ("voucher_no", "date", "payer_name", "payer_account", "payer_bank", "payee_name",
          "payee_account", "payee_bank", "amount_in_words", "amount", "purpose")
_TEXT_OF = {"date": "date_text", "payer_account": "payer_account_text",
            "payee_account": "payee_account_text", "amount": "amount_text"}
_WIDTH = str.maketrans({"¥": "￥", "(": "（", ")": "）", ":": "：", ",": "，"})


def loose(text: str) -> str:
    return re.sub(r"\s", "", text).translate(_WIDTH)


def bench_quality(engine: Any, quality: str, count: int, seed: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        vouchers = generate(tmp, count, seed, quality=quality)
        generate_s = (time.perf_counter() - started) / count
        seconds, misses = [], defaultdict(list)
        read_ok: Counter[str] = Counter()
        whole = 0
        under_seal: Counter[str] = Counter()
        for v in vouchers:
            started = time.perf_counter()
            result = engine(str(Path(tmp) / v.image))
            seconds.append(time.perf_counter() - started)
            lines = [loose(t) for t in (result.txts or ())]
            all_read = True
            for field in FIELDS:
                printed = loose(str(getattr(v.printed, _TEXT_OF.get(field, field))))
                if any(printed in line for line in lines):
                    read_ok[field] += 1
                    continue
                all_read = False
                best = max(lines, default="", key=lambda line, p=printed:
                           difflib.SequenceMatcher(None, p, line).ratio())
                seal = v.degradations.get("seal") or {}
                covered = field in seal.get("covers", ())
                under_seal[field] += covered
                misses[field].append({"voucher": v.voucher_no, "printed": printed,
                                      "read": best, "under_seal": covered})
            whole += all_read
    return {
        "quality": quality, "vouchers": count,
        "generate_s_per_voucher": round(generate_s, 3),
        "ocr_s_per_voucher_median": round(statistics.median(seconds), 3),
        "ocr_s_per_voucher_max": round(max(seconds), 3),
        "vouchers_all_fields_read": whole,
        "field_read_rate": {f: round(read_ok[f] / count, 3) for f in FIELDS},
        "misses_under_seal": dict(under_seal),
        "misses": {f: m for f, m in misses.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--qualities", default="clean,scanned,poor")
    parser.add_argument("--no-cls", action="store_true", help="skip the direction classifier")
    parser.add_argument("--json", help="also write the full results (every miss) here")
    args = parser.parse_args()
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    from rapidocr import RapidOCR

    params: dict[str, Any] = {"Det.limit_type": "max", "Det.limit_side_len": 960}
    if args.no_cls:
        params["Global.use_cls"] = False
    engine = RapidOCR(params=params)
    with tempfile.TemporaryDirectory() as tmp:  # warm-up: the first read builds the sessions
        warm = generate(tmp, 1, seed=0, quality="clean")
        engine(str(Path(tmp) / warm[0].image))
    results = [bench_quality(engine, q, args.count, args.seed)
               for q in args.qualities.split(",")]
    print(f"RapidOCR params: {params}")
    for r in results:
        print(f"\n== {r['quality']}: {r['vouchers']} vouchers, OCR median "
              f"{r['ocr_s_per_voucher_median']} s/voucher (max {r['ocr_s_per_voucher_max']}), "
              f"generate {r['generate_s_per_voucher']} s/voucher; every field read on "
              f"{r['vouchers_all_fields_read']}/{r['vouchers']}")
        print("   read rate: " + ", ".join(f"{f} {rate:.0%}"
                                           for f, rate in r["field_read_rate"].items()))
        for field, misses in r["misses"].items():
            for m in misses[:3]:
                seal = " (under the seal)" if m["under_seal"] else ""
                print(f"   {field}: printed {m['printed']!r} read {m['read']!r}{seal}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, ensure_ascii=False, indent=1),
                                   encoding="utf-8")


if __name__ == "__main__":
    main()
