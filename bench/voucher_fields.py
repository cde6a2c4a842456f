"""S4's voucher fields, read as the S4 robot reads them, by RapidOCR (both profiles) and by
Tesseract chi_sim on the same generated vouchers: exact fields, wrong automatic passes, and the
share of matching vouchers that pass with no person.

    apt-get install tesseract-ocr tesseract-ocr-chi-sim    # the baseline (bench only)
    .venv/bin/pip install -e '.[bench]'                    # pytesseract
    ORT_DISABLE_TELEMETRY=1 PYTHONPATH=$PWD .venv/bin/python bench/voucher_fields.py \\
        [--count 50] [--seed 7] [--quality scanned] [--engines fast,accurate,tesseract]

The fields and their labels are the S4 robot's own (robots/s4-voucher-check.yaml, its
documents.extract and documents.compare steps), so this measures what the robot does. A field
is exact when its typed value equals what the voucher really shows (truth.json's printed
values). A wrong automatic pass is a voucher with a planted mismatch that documents.compare
calls identical: the target is none. The engines run one after another on each voucher.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml

from libs.steps.documents.compare import check_all, overall
from libs.steps.documents.fields import FieldSpec, extract
from libs.steps.ocr.engine import TextLine
from libs.steps.vision.box import Box
from libs.steps.vision.images import load_image
from workhand.demo.vouchers import generate

ROBOT = Path(__file__).resolve().parents[1] / "robots" / "s4-voucher-check.yaml"
# robot field → truth.json printed value; record value
PRINTED = {"付款人户名": "payer_name", "付款人账号": "payer_account", "收款人户名": "payee_name",
           "收款人账号": "payee_account", "金额": "amount", "大写金额": "amount_in_words_value",
           "交易日期": "date"}
RECORD = {"付款人户名": "payer_name", "付款人账号": "payer_account", "收款人户名": "payee_name",
          "收款人账号": "payee_account", "金额": "amount", "交易日期": "date"}


def robot_steps() -> tuple[dict[str, FieldSpec], list[list[str]]]:
    """The S4 robot's field specs and agreements, read from its file."""
    def walk(steps: list[Any]) -> list[dict[str, Any]]:
        found = []
        for item in steps:
            found.append(item)
            for key in ("steps", "then", "else"):
                found += walk(item.get(key) or []) if isinstance(item, dict) else []
        return found

    steps = walk(yaml.safe_load(ROBOT.read_text(encoding="utf-8"))["steps"])
    extract_args = next(s["documents.extract"] for s in steps if "documents.extract" in s)
    compare_args = next(s["documents.compare"] for s in steps if "documents.compare" in s)
    fields = {name: FieldSpec(**spec) for name, spec in extract_args["fields"].items()}
    return fields, compare_args.get("agree") or []


def tesseract_lines(path: Path) -> list[TextLine]:
    """Tesseract's words grouped into its own lines, with their boxes and mean confidence."""
    import pytesseract
    from PIL import Image

    data = pytesseract.image_to_data(Image.open(path), lang="chi_sim",
                                     output_type=pytesseract.Output.DICT)
    grouped: dict[tuple[int, int, int], list[int]] = {}
    for i, text in enumerate(data["text"]):
        if text.strip() and float(data["conf"][i]) >= 0:
            key = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
            grouped.setdefault(key, []).append(i)
    lines = []
    for indexes in grouped.values():
        left = min(data["left"][i] for i in indexes)
        top = min(data["top"][i] for i in indexes)
        right = max(data["left"][i] + data["width"][i] for i in indexes)
        bottom = max(data["top"][i] + data["height"][i] for i in indexes)
        text = "".join(data["text"][i] for i in indexes)
        confidence = statistics.fmean(float(data["conf"][i]) for i in indexes) / 100
        lines.append(TextLine(text, Box(left, top, right - left, bottom - top), confidence))
    return sorted(lines, key=lambda line: (line.box.y, line.box.x))


def reader(name: str) -> Any:
    if name == "tesseract":
        return tesseract_lines
    from libs.steps.ocr.rapid import RapidEngine

    engine = RapidEngine(profile=name)
    engine.load()
    return lambda path: engine.read(load_image(path))


def measure(name: str, vouchers: list[Any], folder: Path, confident: float,
            verbose: bool = False) -> dict[str, Any]:
    fields, agreements = robot_steps()
    read = reader(name)
    seconds, exact, total, wrong_passes, planted, passed, matching = [], 0, 0, 0, 0, 0, 0
    missed: Counter[str] = Counter()
    for voucher in vouchers:
        started = time.perf_counter()
        lines = read(folder / voucher.image)
        seconds.append(time.perf_counter() - started)
        found = {n: extract(lines, n, spec) for n, spec in fields.items()}
        printed, record = asdict(voucher.printed), asdict(voucher.record)
        for n, key in PRINTED.items():
            total += 1
            right = found[n].value is not None and found[n].value == _typed(printed[key],
                                                                            found[n].kind)
            exact += right
            if not right:
                missed[n] += 1
                if verbose:
                    print(name, voucher.voucher_no, n, repr(found[n].text), printed[key])
        verdict = overall(check_all(found, {n: record[key] for n, key in RECORD.items()},
                                    [(a, b) for a, b in agreements], confident))
        if voucher.mismatches:
            planted += 1
            wrong_passes += verdict == "identical"
        else:
            matching += 1
            passed += verdict == "identical"
    return {"engine": name, "vouchers": len(vouchers), "exact": exact, "fields": total,
            "wrong_passes": wrong_passes, "planted": planted, "passed": passed,
            "matching": matching, "median_s": statistics.median(seconds),
            "missed": dict(missed)}


def _typed(value: Any, kind: str) -> str | None:
    """The truth's value as the field's reader writes it (the capitals' truth is a figure)."""
    from libs.steps.documents.fields import typed

    return typed(str(value), "amount" if kind == "amount_words" else kind)  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quality", default="scanned", choices=("clean", "scanned", "poor"))
    parser.add_argument("--engines", default="fast,accurate,tesseract")
    parser.add_argument("--confident", type=float, default=0.9)
    parser.add_argument("--verbose", action="store_true", help="print every field not exact")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        vouchers = generate(folder, args.count, args.seed, quality=args.quality)
        rows = [measure(name, vouchers, folder, args.confident, args.verbose)
                for name in args.engines.split(",")]
    print(f"{args.count} {args.quality} vouchers, seed {args.seed}, confident "
          f"{args.confident:g}\n")
    print("| engine | fields exact | wrong automatic passes | matching vouchers passed with "
          "no person | median s / voucher | fields missed |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['engine']} | {row['exact']}/{row['fields']} "
              f"({100 * row['exact'] / row['fields']:.1f} %) | {row['wrong_passes']} of "
              f"{row['planted']} planted | {row['passed']}/{row['matching']} | "
              f"{row['median_s']:.2f} | "
              f"{', '.join(f'{k} {v}' for k, v in row['missed'].items()) or '-'} |")


if __name__ == "__main__":
    main()
