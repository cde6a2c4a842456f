"""S4 凭证影像智能比对: the robot reads a batch of generated scanned vouchers by OCR (the real
PP-OCR models) and checks them against the transaction records. Every voucher planted with a
mismatch must be in review with its evidence (both values and the field's crop), none of them
may pass on its own, and the matching ones pass with no person."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from workhand.demo.vouchers import generate

pytestmark = pytest.mark.acceptance

ROOT = Path(__file__).resolve().parents[2]
WORKHAND = Path(sys.executable).with_name("workhand")
ROBOT = "robots/s4-voucher-check.yaml"
# the truth's field names → the robot's (robots/s4-voucher-check.yaml)
FIELD = {"payer_name": "付款人户名", "payer_account": "付款人账号", "payee_name": "收款人户名",
         "payee_account": "收款人账号", "amount": "金额", "amount_in_words": "金额=大写金额",
         "date": "交易日期"}


def test_planted_mismatches_reach_review_and_the_rest_pass(tmp_path: Path) -> None:
    folder, out = tmp_path / "凭证", tmp_path / "run"
    vouchers = generate(folder, 20, seed=3, quality="scanned")
    planted = {v.voucher_no: v for v in vouchers if v.mismatches}
    assert len(planted) == 6
    done = subprocess.run([str(WORKHAND), "run", ROBOT, "--allow-read", str(folder),
                           "--input", f"folder={folder}", "--output", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads((out / "result.json").read_text(encoding="utf-8"))
    outcomes = {w["id"]: w["outcome"] for w in result["work_items"]}
    requests = {r["reference"]: r for r in map(json.loads, (out / "review-requests.jsonl")
                                               .read_text(encoding="utf-8").splitlines())}

    # every planted mismatch is in review, with both values and its crop; none passed
    assert {ref for ref in planted if outcomes[ref] == "done"} == set()
    for ref, voucher in planted.items():
        assert outcomes[ref] == "in_review"
        fields = {f["name"]: f for f in requests[ref]["fields"]}
        for mismatch in voucher.mismatches:
            field = fields[FIELD[mismatch.field]]
            assert field["verdict"] != "identical", (ref, mismatch, field)
        for field in fields.values():
            if field["image"] is not None:
                assert (out / field["image"]).read_bytes().startswith(b"\x89PNG")
        assert any(f["image"] for f in fields.values())

    # the vouchers that match their records passed with no person
    matching = [v.voucher_no for v in vouchers if not v.mismatches]
    assert [ref for ref in matching if outcomes[ref] != "done"] == []
    assert result["items"]["done"] == len(matching)
