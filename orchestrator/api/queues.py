"""Work queues: operators create queues and add items (in bulk, or a CSV / Excel file); workers
lease items one at a time for the job they hold and report how each ended."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response, status
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from orchestrator import queue_work, queues, review
from orchestrator.api.deps import (
    MAX_ID,
    Operator,
    QueueCaller,
    Reader,
    SettingsDep,
    in_database,
    transaction,
)
from orchestrator.models import Queue
from orchestrator.refusals import Invalid, Refusal

router = APIRouter(prefix="/api/v1", tags=["queues"])
MAX_ITEMS = queues.MAX_ITEMS
_NAME = r"^[^/\s\x00-\x1f](?:[^/\x00-\x1f]*[^/\s\x00-\x1f])?$"
QueueName = Annotated[str, Field(min_length=1, max_length=200, pattern=_NAME,
                                 description="unique; no '/', control characters or spaces at "
                                             "either end")]
QueuePath = Annotated[str, PathParam(min_length=1, max_length=200, pattern=_NAME)]
ItemId = Annotated[int, PathParam(ge=1, le=MAX_ID, description="a queue item's id")]
Name = Annotated[str, Field(min_length=1, max_length=200)]


class QueueCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: QueueName
    max_retries: int = Field(2, ge=0, le=100,
                             description="tries after the first one when an item has a system "
                                         "error (business exceptions are never retried)")
    description: str = Field("", max_length=2000)
    review_next: str | None = Field(None, min_length=1, max_length=200,
                                    description="the queue items approved in human review go "
                                                "to (a robot's review.request may name another)")


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reference: str = Field(min_length=1, max_length=queues.MAX_REFERENCE,
                           description="unique in the queue, e.g. the account number")
    payload: dict[str, Any] = Field(default_factory=dict, description="what the robot gets "
                                                                      "as the loop variable")
    priority: int = Field(0, ge=-1000, le=1000, description="higher is leased first")
    deadline: dt.datetime | None = Field(None, description="earlier deadlines are leased first "
                                                           "within a priority")


class ItemsAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[ItemIn] = Field(max_length=MAX_ITEMS)
    on_duplicate: Literal["skip", "error"] = Field(
        "skip", description="skip: references already in the queue are counted as skipped; "
                            "error: 409 and nothing is added")


class Holder(BaseModel):
    model_config = ConfigDict(extra="forbid")
    job_id: int = Field(ge=1, le=MAX_ID)
    attempt: int = Field(ge=1, le=1_000_000)
    worker: Name


class ReviewFieldIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    label: str = Field("", max_length=200, description="what the reviewer reads, e.g. 金额")
    kind: Literal["account", "amount", "name", "date", "text"] = Field(
        "text", description="account and amount: a change needs a second reviewer")
    record: str | int | float | None = Field(None, description="the system's value")
    found: str | int | float | None = Field(None, description="the document's value")
    confidence: float = Field(0.0, ge=0, le=1)
    verdict: Literal["identical", "different", "unsure"] = "unsure"
    image: str | None = Field(None, max_length=3_000_000, description="the crop, PNG in base64")


class ReviewIn(BaseModel):
    """What a robot's review.request sends with an in_review outcome."""
    model_config = ConfigDict(extra="forbid")
    reason: str = Field("", max_length=2000)
    next_queue: str | None = Field(None, min_length=1, max_length=200)
    fields: list[ReviewFieldIn] = Field(min_length=1, max_length=100)


class Report(Holder):
    outcome: Literal["done", "business_exception", "system_error", "in_review"]
    review: ReviewIn | None = Field(None, description="with in_review: the evidence (fields "
                                                      "with both values and crops)")
    message: str = Field("", max_length=100_000, description="kept up to 4,000 characters")
    next: bool = Field(False, description="also lease the job's next item of the same queue, "
                                          "in the same transaction: answered as 'next' (null "
                                          "when none is left), as POST /queues/{name}/lease "
                                          "would answer; a robot's loop saves a call per item")


class Added(BaseModel):
    added: int
    skipped: int = Field(description="references the queue had already (on_duplicate: skip)")


class QueueView(BaseModel):
    name: str
    max_retries: int
    description: str
    created: dt.datetime | None
    review_next: str | None = Field(None, description="where items approved in review go")
    counts: dict[str, int] = Field(description="items per state (new, in_progress, done, "
                                               "business_exception, failed, abandoned) and "
                                               "total")


class ItemView(BaseModel):
    id: int
    queue: str
    reference: str
    payload: dict[str, Any]
    priority: int
    deadline: dt.datetime | None
    state: queues.ItemState
    attempts: int = Field(description="tries so far")
    job_id: int | None = Field(description="the job that holds or last worked it")
    message: str = Field(description="the robot's last word on it")
    worked_by: list[list[int]] = Field(description="[job id, attempt] of every try")
    created: dt.datetime | None
    updated: dt.datetime | None


class LeasedItem(BaseModel):
    """An item handed to a job: the robot's loop variable is its payload."""
    id: int
    reference: str
    payload: dict[str, Any]
    attempts: int = Field(description="tries so far, this one included")


class Reported(BaseModel):
    id: int
    queue: str
    state: queues.ItemState = Field(description="what the item is now (a system error with "
                                                "tries left: new again)")
    attempts: int
    next: LeasedItem | None = Field(None, description="with next: true, the job's next item "
                                                      "(null when none is left)")


@router.post("/queues", status_code=status.HTTP_201_CREATED, response_model=QueueView)
def create_queue(body: QueueCreate, caller: Operator, request: Request) -> dict[str, Any]:
    with transaction(request) as session:
        queue = queues.create_queue(session, body.name, body.max_retries, body.description,
                                    body.review_next)
        return queues.queue_view(queue, queues.all_stats(session, [queue.name])[queue.name])


@router.get("/queues", response_model=list[QueueView])
def list_queues(caller: Reader, request: Request) -> list[dict[str, Any]]:
    """Every queue with its items counted per state."""
    with transaction(request) as session:
        counts = queues.all_stats(session)
        return [queues.queue_view(q, counts[q.name])
                for q in session.scalars(select(Queue).order_by(Queue.name))]


@router.get("/queues/{name}", response_model=QueueView)
def get_queue(name: QueuePath, caller: Reader, request: Request) -> dict[str, Any]:
    with transaction(request) as session:
        return queues.queue_view(queues.get_queue(session, name), queues.stats(session, name))


@router.post("/queues/{name}/items")
async def add_items(name: QueuePath, body: ItemsAdd, caller: Operator, request: Request) -> Added:
    """Add up to 100,000 items in one request."""
    # plain dicts built by hand: 6x quicker than model_dump() for 52,165 items
    items = [{"reference": i.reference, "payload": i.payload, "priority": i.priority,
              "deadline": i.deadline} for i in body.items]
    return Added(**await in_database(
        request, lambda conn: queues.add_items(conn, name, items, body.on_duplicate),
        long=len(items) > 100))


@router.post("/queues/{name}/items/file", openapi_extra={"requestBody": {"content": {
    "text/csv": {"schema": {"type": "string", "format": "binary"}},
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
        "schema": {"type": "string", "format": "binary"}},
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "file": {"type": "string", "format": "binary"}}}}}}})
async def add_file(name: QueuePath, request: Request, caller: Operator,
                   reference_column: Annotated[str, Query(min_length=1, max_length=200)],
                   fmt: Annotated[Literal["csv", "xlsx"] | None, Query(alias="format")] = None,
                   on_duplicate: Annotated[Literal["skip", "error"], Query()] = "skip",
                   sheet: Annotated[str | None, Query(max_length=200)] = None) -> Added:
    """Each row of a CSV (UTF-8, UTF-8 with BOM or GBK) or .xlsx file becomes an item: its
    reference from reference_column, the row as its payload. Send the file as the raw body or
    as the multipart field 'file'."""
    filename, data = await _upload(request)
    zipped = data.startswith(b"PK\x03\x04")  # an .xlsx is a zip
    fmt = fmt or ("xlsx" if zipped or filename.lower().endswith(".xlsx") else "csv")

    def store() -> dict[str, int]:
        with request.app.state.sessions() as session:  # a 404 before any parsing
            queues.get_queue(session, name)
        with tempfile.TemporaryDirectory(prefix="workhand-queue-") as folder:
            path = Path(folder) / f"upload.{fmt}"  # never the caller's name: it is not ours
            path.write_bytes(data)
            try:
                # parsed with no transaction open: a slow file never holds SQLite's write lock
                items = queues.items_of_file(path, reference_column, fmt=fmt, sheet=sheet)
            except Refusal as err:  # the caller's file has no business with our folder
                raise err.reworded(str(err).replace(f"{folder}/", "")) from None
        with request.app.state.sessions.begin() as session:
            return queues.add_items(session, name, items, on_duplicate)

    return Added(**await run_in_threadpool(store))


async def _upload(request: Request) -> tuple[str, bytes]:
    """The file's name (if sent) and content (the guard stops it at
    WORKHAND_MAX_IMPORT_BYTES with 413)."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=10)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise Invalid("send the file in the multipart field 'file'")
        return upload.filename or "", await upload.read()
    data = b"".join([chunk async for chunk in request.stream()])
    if not data:
        raise Invalid("the request has no file: send it as the body or as the "
                      "multipart field 'file'")
    return "", data


@router.get("/queues/{name}/items", response_model=list[ItemView])
def list_items(name: QueuePath, caller: Reader, request: Request,
               state: Annotated[queues.ItemState | None, Query()] = None,
               limit: Annotated[int, Query(ge=1, le=1000)] = 100,
               after: Annotated[int, Query(ge=0, le=MAX_ID,
                                           description="items with a larger id (paging)")] = 0,
               ) -> list[dict[str, Any]]:
    with transaction(request) as session:
        rows = queues.list_items(session, name, state=state.value if state else None,
                                 limit=limit, after=after)
        return [queues.item_view(i) for i in rows]


# The robots' own calls (lease, report) are documented, not validated: the answer is built by
# queue_work from the database row, and is sent as it is (a model's validation per item would
# cost more than the lease's statement on SQLite).
@router.post("/queues/{name}/lease", tags=["workers"], response_model=None,
             responses={200: {"model": LeasedItem},
                        204: {"description": "the queue has no new item"}})
async def lease(name: QueuePath, body: Holder, caller: QueueCaller, request: Request,
                settings: SettingsDep) -> Any:
    """The next item for the job this worker holds; 204 when the queue has none left. Called
    by the robot with its attempt's job token (or by the worker with its own token)."""
    caller.hold(body.job_id, body.attempt, body.worker)

    def take(conn: Connection) -> dict[str, Any] | None:
        queue_work.hold(conn, body.job_id, body.worker, body.attempt)
        item = queue_work.lease_item(conn, name, body.job_id, settings.lease_seconds,
                                     attempt=body.attempt)
        return None if item is None else item._asdict()

    answer = await in_database(request, take)
    if answer is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return answer


@router.post("/queue-items/{item_id}/report", tags=["workers"], response_model=None,
             responses={200: {"model": Reported}})
async def report(item_id: ItemId, body: Report, caller: QueueCaller, request: Request,
                 settings: SettingsDep) -> Any:
    """How the item ended: {id, queue, state, attempts}, and with next: true the job's next
    item ('next'); 409 when the item was taken back from this job."""
    caller.hold(body.job_id, body.attempt, body.worker)
    if body.review is not None and body.outcome != "in_review":
        raise Invalid("only an in_review outcome comes with a review")
    evidence = None if body.review is None else body.review.model_dump()

    def record(conn: Connection) -> dict[str, Any]:
        queue_work.hold(conn, body.job_id, body.worker, body.attempt)
        answer = queue_work.report(conn, item_id, body.job_id, body.outcome, body.message)
        if body.outcome == "in_review":
            # without the evidence only as a repeat (the worker reports the robot's last item
            # again from its events): the review made by the first report stands
            answer["review_id"] = review.hand_over(conn, item_id, body.job_id, evidence) \
                if evidence is not None else review.known(conn, item_id)
        if body.next:
            item = queue_work.lease_item(conn, answer["queue"], body.job_id,
                                         settings.lease_seconds, attempt=body.attempt)
            answer["next"] = None if item is None else item._asdict()
        return answer

    return await in_database(request, record)


@router.post("/queue-items/{item_id}/abandon", response_model=ItemView)
def abandon(item_id: ItemId, caller: Operator, request: Request) -> dict[str, Any]:
    """Give an item up: it is not handed out again unless retried."""
    with transaction(request) as session:
        return queues.item_view(queues.abandon(session, item_id, caller.name))


@router.post("/queue-items/{item_id}/retry", response_model=ItemView)
def retry(item_id: ItemId, caller: Operator, request: Request) -> dict[str, Any]:
    """A failed, business-exception or abandoned item goes back to new with all its tries."""
    with transaction(request) as session:
        return queues.item_view(queues.retry(session, item_id, caller.name))
