"""Human review through the API on SQLite and PostgreSQL: a real robot run (HttpQueueSource
against a live server) hands items to review with their crops; reviewers decide; four-eyes
holds for an amount change (the reviewer who made it cannot approve it, another can); the
approved item is in the next queue with the corrected amount; every decision is audited."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from libs.checker import check_file
from libs.runner import Runner
from orchestrator import deploy, dispatch, jobs, review
from orchestrator.auth import create_token
from orchestrator.models import AuditEntry, QueueItem
from orchestrator.queue_client import HttpQueueSource
from orchestrator.refusals import Forbidden
from orchestrator.roles import Role
from orchestrator.settings import Settings
from tests.orchestrator.api.test_queues_api import LiveServer, make_app

Sessions = sessionmaker[Session]
Headers = dict[str, dict[str, str]]
ROBOT = """robot: voucher-check
title: 凭证核对
savings: {minutes_per_item: 7}
steps:
  - for_each: {queue: 凭证核对}
    as: v
    steps:
      - if: "${v.found != v.amount}"
        then:
          - review.request:
              reason: 金额不一致
              fields:
                - {name: account, label: 账号, kind: account, record: "${v.account}",
                   found: "${v.account}", confidence: 0.99, verdict: identical}
                - {name: amount, label: 金额, kind: amount, record: "${v.amount}",
                   found: "${v.found}", confidence: 0.58, verdict: different,
                   image: amount.png}
      - log: "${v.account} 核对通过"
"""
VOUCHERS = [
    {"reference": "V-1", "payload": {"account": "6222020200112233", "amount": "1200.00",
                                     "found": "1200.00"}},
    {"reference": "V-2", "payload": {"account": "6222020200114455", "amount": "350.00",
                                     "found": "3500.00"}},
    {"reference": "V-3", "payload": {"account": "6222020200116677", "amount": "88.00",
                                     "found": "83.00"}},
]


POSTING = """robot: posting
title: 复核后入账
steps:
  - for_each: {queue: 入账}
    as: v
    steps:
      - log: "入账 ${v.account} ${v.amount} (复核 ${v.review.decided_by})"
"""


@pytest.fixture
def client(db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(make_app(db_url, tmp_path)) as c:
        yield c


@pytest.fixture
def tokens(sessions: Sessions) -> Headers:
    with sessions.begin() as s:
        made = {role.value: create_token(s, role, role.value,
                                         worker="w1" if role is Role.WORKER else None)
                for role in Role}
        made["reviewer-b"] = create_token(s, Role.REVIEWER, "reviewer-b")
    return {name: {"Authorization": f"Bearer {token}"} for name, token in made.items()}


def run_robot(sessions: Sessions, db_url: str, folder: Path, name: str,
              tmp_path: Path) -> Any:
    """Deploy the robot, lease its job as worker w1 and run it against a live server."""
    with sessions.begin() as session:
        deploy.deploy_robot(session, folder / f"{name}.yaml")
        jobs.create_job(session, robot=name)
    with sessions.begin() as session:
        [leased] = dispatch.lease(session, worker="w1", labels=[], settings=Settings(
            data_dir=tmp_path / "data", lease_seconds=60))
    live = LiveServer(make_app(db_url, tmp_path))
    live.start()
    try:
        source = HttpQueueSource(live.url, leased["job_token"], leased["id"],
                                 leased["attempt"], "w1")
        result = Runner(check_file(folder / f"{name}.yaml"), output_dir=tmp_path / name,
                        queues=source).run()
        source.close()
    finally:
        live.close()
    return leased, result


@pytest.fixture
def handed(client: TestClient, tokens: Headers, sessions: Sessions, db_url: str,
           tmp_path: Path) -> dict[str, Any]:
    """The robot has worked the three vouchers: V-1 passed, V-2 and V-3 are in review."""
    operator = tokens["operator"]
    assert client.post("/api/v1/queues", headers=operator,
                       json={"name": "入账"}).status_code == 201
    made = client.post("/api/v1/queues", headers=operator,
                       json={"name": "凭证核对", "review_next": "入账"})
    assert made.status_code == 201 and made.json()["review_next"] == "入账", made.text
    assert client.post("/api/v1/queues/凭证核对/items", headers=operator,
                       json={"items": VOUCHERS}).json()["added"] == 3
    folder = tmp_path / "robots"
    folder.mkdir()
    (folder / "voucher-check.yaml").write_text(ROBOT, encoding="utf-8")
    Image.new("RGB", (120, 32), "white").save(folder / "amount.png")
    leased, result = run_robot(sessions, db_url, folder, "voucher-check", tmp_path)
    assert [(i.id, i.outcome) for i in result.work_items] == [
        ("V-1", "done"), ("V-2", "in_review"), ("V-3", "in_review")]
    assert result.counts["in_review"] == 2
    listed = client.get("/api/v1/reviews", headers=tokens["viewer"],
                        params={"queue": "凭证核对"}).json()
    return {"job": leased["id"], "reviews": {r["reference"]: r["id"] for r in listed}}


def states(sessions: Sessions) -> dict[tuple[str, str], tuple[str, dict[str, Any]]]:
    with sessions.begin() as session:
        return {(i.queue, i.reference): (i.state, i.payload)
                for i in session.scalars(select(QueueItem))}


def test_the_robot_hands_items_over_with_their_evidence(client: TestClient, tokens: Headers,
                                                        handed: dict[str, Any],
                                                        sessions: Sessions) -> None:
    v2 = handed["reviews"]["V-2"]
    assert set(handed["reviews"]) == {"V-2", "V-3"}
    refused = client.get(f"/api/v1/reviews/{v2}", headers=tokens["viewer"])
    assert refused.status_code == 403 and "'review' permission" in refused.json()["detail"]
    shown = client.get(f"/api/v1/reviews/{v2}", headers=tokens["reviewer"]).json()
    assert (shown["robot"], shown["reason"], shown["state"], shown["next_queue"]) == (
        "voucher-check", "金额不一致", "open", "入账")
    amount = shown["fields"][1]
    assert (amount["label"], amount["record"], amount["found"], amount["verdict"],
            amount["sensitive"]) == ("金额", "350.00", "3500.00", "different", True)
    assert shown["fields"][0]["image"] is None
    crop = client.get(amount["image"], headers=tokens["reviewer"])
    assert crop.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(crop.content)).size == (120, 32)
    found = states(sessions)
    assert found[("凭证核对", "V-1")][0] == "done"
    assert found[("凭证核对", "V-2")][0] == "in_review"


def test_four_eyes_an_amount_change_needs_another_reviewer(client: TestClient,
                                                           tokens: Headers,
                                                           handed: dict[str, Any],
                                                           sessions: Sessions) -> None:
    """Four-eyes needs two people: an API token names none (one person may hold two tokens),
    so a change to an amount is made, and approved, by people signed in to the console."""
    v2 = handed["reviews"]["V-2"]
    a = tokens["reviewer"]
    assert client.post(f"/api/v1/reviews/{v2}/open", headers=a).status_code == 200
    by_token = client.post(f"/api/v1/reviews/{v2}/decision", headers=a,
                           json={"action": "correct", "values": {"amount": "3500.00"}})
    assert by_token.status_code == 403 and by_token.json()["detail"] == review.PEOPLE_ONLY
    with sessions.begin() as session:
        changed = review.decide(session, v2, "alice", "correct", values={"amount": "3500.00"})
        assert changed.review.state == "awaiting_second"
        assert changed.changes == [{"name": "amount", "before": "350.00", "after": "3500.00"}]
    with sessions.begin() as session, pytest.raises(Forbidden) as own:
        review.approve(session, v2, "alice")
    assert "needs a second, different reviewer" in str(own.value)
    assert ("入账", "V-2") not in states(sessions)
    token_approval = client.post(f"/api/v1/reviews/{v2}/approve", headers=a)
    assert token_approval.status_code == 403
    again = client.post(f"/api/v1/reviews/{v2}/decision", headers=a, json={"action": "accept"})
    assert again.status_code == 409 and "approve or reject it" in again.json()["detail"]
    with sessions.begin() as session:
        assert review.approve(session, v2, "bob").review.approved_by == "bob"
    found = states(sessions)
    assert found[("凭证核对", "V-2")][0] == "reviewed"
    state, payload = found[("入账", "V-2")]
    assert (state, payload["amount"], payload["account"]) == ("new", "3500.00",
                                                               "6222020200114455")
    assert client.post(f"/api/v1/reviews/{v2}/approve", headers=a).status_code == 409
    with sessions.begin() as session:
        entries = list(session.scalars(select(AuditEntry).where(
            AuditEntry.object.startswith(f"review {v2}")).order_by(AuditEntry.id)))
    assert [(e.action.rsplit("/", 1)[-1], e.status) for e in entries] == [
        ("open", 200), ("decision", 403), ("approve", 403), ("decision", 409),
        ("approve", 409)]


def test_reject_and_the_4xx_sentences(client: TestClient, tokens: Headers,
                                      handed: dict[str, Any], sessions: Sessions) -> None:
    v3 = handed["reviews"]["V-3"]
    a = tokens["reviewer"]
    for role in ("viewer", "operator", "worker"):
        assert client.post(f"/api/v1/reviews/{v3}/decision", headers=tokens[role],
                           json={"action": "accept"}).status_code == 403
    missing = client.get("/api/v1/reviews/999999", headers=a)
    assert missing.status_code == 404 and "no review 999999" in missing.json()["detail"]
    no_reason = client.post(f"/api/v1/reviews/{v3}/decision", headers=a,
                            json={"action": "reject"})
    assert no_reason.status_code == 422 and "needs a reason" in no_reason.json()["detail"]
    unknown = client.post(f"/api/v1/reviews/{v3}/decision", headers=a,
                          json={"action": "correct", "values": {"colour": "red"}})
    assert unknown.status_code == 422 and "no field colour" in unknown.json()["detail"]
    early = client.post(f"/api/v1/reviews/{v3}/approve", headers=a)
    assert early.status_code == 409 and "no decision to approve" in early.json()["detail"]
    rejected = client.post(f"/api/v1/reviews/{v3}/decision", headers=a,
                           json={"action": "reject", "reason": "凭证金额涂改"})
    assert rejected.status_code == 200 and rejected.json()["review"]["state"] == "rejected"
    assert states(sessions)[("凭证核对", "V-3")][0] == "business_exception"
    assert [r["reference"] for r in client.get("/api/v1/reviews", headers=a).json()] == ["V-2"]


def test_an_in_review_report_needs_its_evidence(client: TestClient, tokens: Headers,
                                                handed: dict[str, Any],
                                                sessions: Sessions) -> None:
    body = {"job_id": handed["job"], "attempt": 1, "worker": "w1", "outcome": "in_review"}
    with sessions.begin() as session:
        ids = {i.reference: i.id for i in session.scalars(select(QueueItem))}
        session.add(QueueItem(queue="凭证核对", reference="V-4", state="in_progress",
                              job_id=handed["job"], attempts=1))
    # the worker reports the robot's last item again from its events: answered as before
    again = client.post(f"/api/v1/queue-items/{ids['V-3']}/report", headers=tokens["worker"],
                        json=body)
    assert again.status_code == 200 and again.json()["review_id"] == handed["reviews"]["V-3"]
    with sessions.begin() as session:
        fresh = session.scalar(select(QueueItem.id).where(QueueItem.reference == "V-4"))
    bare = client.post(f"/api/v1/queue-items/{fresh}/report", headers=tokens["worker"],
                       json=body)
    assert bare.status_code == 422 and "comes with its review" in bare.json()["detail"]
    assert states(sessions)[("凭证核对", "V-4")][0] == "in_progress"  # nothing changed
    png = base64.b64encode(b"not a png").decode()
    evidence = {"fields": [{"name": "a", "image": png}]}
    bad = client.post(f"/api/v1/queue-items/{fresh}/report", headers=tokens["worker"],
                      json={**body, "review": evidence})
    assert bad.status_code == 422 and "must be a PNG" in bad.json()["detail"]
    done = client.post(f"/api/v1/queue-items/{fresh}/report", headers=tokens["worker"],
                       json={**body, "outcome": "done", "review": evidence})
    assert done.status_code == 422 and "only an in_review" in done.json()["detail"]


def test_a_second_robot_works_the_approved_items(client: TestClient, tokens: Headers,
                                                 handed: dict[str, Any], sessions: Sessions,
                                                 db_url: str, tmp_path: Path) -> None:
    v2, v3 = handed["reviews"]["V-2"], handed["reviews"]["V-3"]
    a = tokens["reviewer"]
    assert client.post(f"/api/v1/reviews/{v2}/decision", headers=a,  # the system was right
                       json={"action": "accept", "use": "record"}).json()["changes"] == []
    with sessions.begin() as session:  # the document was right: four-eyes, by two people
        review.decide(session, v3, "reviewer-b", "accept", use="found")
    with sessions.begin() as session:
        review.approve(session, v3, "reviewer")
    (tmp_path / "robots" / "posting.yaml").write_text(POSTING, encoding="utf-8")
    _, result = run_robot(sessions, db_url, tmp_path / "robots", "posting", tmp_path)
    assert [(i.id, i.outcome) for i in result.work_items] == [("V-2", "done"),
                                                              ("V-3", "done")]
    logged = (tmp_path / "posting" / "events.jsonl").read_text(encoding="utf-8")
    assert "入账 6222020200114455 350.00 (复核 reviewer" in logged
    assert "入账 6222020200116677 83.00 (复核 reviewer-b" in logged
    found = states(sessions)
    assert {k: v[0] for k, v in found.items()} == {
        ("凭证核对", "V-1"): "done", ("凭证核对", "V-2"): "reviewed",
        ("凭证核对", "V-3"): "reviewed", ("入账", "V-2"): "done", ("入账", "V-3"): "done"}
