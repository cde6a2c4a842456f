"""review.request: the robot hands its current item to people and goes on with the next —
run alone (review-requests.jsonl in the run folder, crops with it), with a queue source that
takes reviews, and with one that only takes outcomes; refused outside a work item."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from libs.queues import LOCAL_REVIEWS, QueueItem, ReviewRequest
from libs.run_result import RunResult

Run = Callable[..., tuple[RunResult, Any]]
ROBOT = """
robot: vouchers
steps:
  - for_each: {SOURCE}
    as: v
    work_item: "${v.ref}"
    steps:
      - try:
          - if: "${v.found != v.amount}"
            then:
              - review.request:
                  reason: 金额不一致
                  next_queue: 入账
                  fields:
                    - {name: amount, label: 金额, kind: amount, record: "${v.amount}",
                       found: "${v.found}", confidence: 0.58, verdict: different,
                       image: crop.png}
                    - {name: payee, label: 收款人, kind: name, record: 张三, found: 张三,
                       confidence: 0.97, verdict: identical}
        catch:  # a try does not catch the hand-over: it is no failure
          - log: caught
      - log: "${v.ref} passed"
"""
LOCAL = ROBOT.replace("{SOURCE}", '[{ref: V-1, amount: "10.00", found: "10.00"}, '
                                  '{ref: V-2, amount: "10.00", found: "100.00"}, '
                                  '{ref: V-3, amount: "5.00", found: "5.00"}]')


def crop(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (40, 12), "white").save(folder / "crop.png")


def test_run_alone_the_request_is_kept_in_the_run_folder(run_robot: Run,
                                                         tmp_path: Path) -> None:
    crop(tmp_path)
    result, events = run_robot(LOCAL)
    assert result.status == "passed", result.error
    assert [(i.id, i.outcome, i.message) for i in result.work_items] == [
        ("V-1", "done", ""), ("V-2", "in_review", "金额不一致"), ("V-3", "done", "")]
    assert result.counts == {"total": 3, "done": 2, "business_exceptions": 0,
                             "system_errors": 0, "in_review": 1}
    logs = [e["message"] for e in events.events if e["type"] == "log"]
    assert "caught" not in logs and "V-2 passed" not in logs
    [line] = (tmp_path / "out" / LOCAL_REVIEWS).read_text(encoding="utf-8").splitlines()
    request = json.loads(line)
    assert (request["reference"], request["reason"], request["next_queue"]) == (
        "V-2", "金额不一致", "入账")
    amount, payee = request["fields"]
    assert (amount["kind"], amount["record"], amount["found"], amount["verdict"],
            amount["image"]) == ("amount", "10.00", "100.00", "different",
                                 "review/1/amount.png")
    assert (tmp_path / "out" / amount["image"]).read_bytes().startswith(b"\x89PNG")
    assert payee["image"] is None and payee["label"] == "收款人"


class Vouchers:
    """A work queue; with `reviews`, a source that takes review requests too."""

    def __init__(self, reviews: bool) -> None:
        self.items = [QueueItem("V-1", {"ref": "V-1", "amount": "1", "found": "7"}, 1),
                      QueueItem("V-2", {"ref": "V-2", "amount": "2", "found": "2"}, 2)]
        self.reported: list[tuple[str, str]] = []
        self.requests: list[ReviewRequest] = []
        if reviews:
            self.review = self._review

    def lease(self, queue: str) -> QueueItem | None:
        return self.items.pop(0) if self.items else None

    def report(self, queue: str, item: QueueItem, outcome: str, message: str) -> None:
        self.reported.append((item.reference, outcome))

    def _review(self, queue: str, item: QueueItem, request: ReviewRequest) -> None:
        self.reported.append((item.reference, "reviewed"))
        self.requests.append(request)


def test_with_a_queue_the_source_takes_the_request(run_robot: Run, tmp_path: Path) -> None:
    crop(tmp_path)
    queued = ROBOT.replace("{SOURCE}", "{queue: 凭证}").replace('    work_item: "${v.ref}"\n',
                                                                 "")
    source = Vouchers(reviews=True)
    result, _ = run_robot(queued, queues=source)
    assert result.status == "passed", result.error
    assert source.reported == [("V-1", "reviewed"), ("V-2", "done")]
    [request] = source.requests
    assert request.to_json()["fields"][0]["image"] == str((tmp_path / "crop.png").resolve())
    assert not (tmp_path / "out" / LOCAL_REVIEWS).exists()
    plain = Vouchers(reviews=False)  # a source that knows only outcomes: told in_review
    run_robot(queued, queues=plain)
    assert plain.reported == [("V-1", "in_review"), ("V-2", "done")]


def test_outside_a_work_item_or_without_a_png_it_fails(run_robot: Run,
                                                       tmp_path: Path) -> None:
    result, _ = run_robot("""
        robot: loose
        steps:
          - review.request: {reason: 看一下, fields: [{name: a, record: "1", found: "2"}]}
        """)
    assert result.status == "failed"
    assert "use it inside a for_each with work_item" in str(result.error)
    (tmp_path / "crop.png").write_text("not an image", encoding="utf-8")
    result, _ = run_robot(LOCAL.replace("catch:", "finally:"))  # (a catch would hide it)
    assert [i.outcome for i in result.work_items] == ["done", "system_error", "done"]
    assert "crop.png is not a PNG image" in result.work_items[1].message
    result, _ = run_robot(LOCAL.replace("catch:", "finally:").replace("name: payee",
                                                                       "name: amount"))
    assert "field name(s) amount given twice" in result.work_items[1].message
