"""Time to add 52,165 work-queue items — Jilin Bank's annual-inspection volume (issue 3, §9;
target: under 5 s).

    .venv/bin/python bench/queue_bulk_add.py
    .venv/bin/python bench/queue_bulk_add.py --runs 5 --pg postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/queue_bulk_add.py --pg ""        # SQLite only

Each run adds the items, payloads as an account list has them (账号, 企业名称, 网点, 开户日期),
into an empty queue, and the median of --runs runs is printed for:
- orchestrator.queues.add_items() on a SQLite file and on PostgreSQL (a private schema,
  dropped afterwards), commit included;
- POST /api/v1/queues/{name}/items with all the items in ONE request, to the orchestrator served
  by uvicorn on a real socket (JSON encoding on the client, parsing and validation included).
Before each run the previous run's items are deleted, outside the timing.
"""

from __future__ import annotations

import argparse
import random
import shutil
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import text

from orchestrator import queues
from orchestrator.app import create_app
from orchestrator.auth import create_token
from orchestrator.db import make_engine, migrate, private_schema, session_factory
from orchestrator.roles import Role
from orchestrator.settings import Settings

JILIN = 52_165
PLACES = ["吉林", "长春", "松原", "四平", "通化", "白山", "延边", "辽源", "白城", "梅河口"]
WORDS = ["恒达", "鑫源", "华信", "宏泰", "金穗", "北方", "瑞丰", "长白山", "兴业", "德润", "广源",
         "盛世", "一汽", "黑土地", "天成", "众合"]
TRADES = ["商贸", "建筑工程", "农业科技", "物流", "粮食收储", "汽车配件", "医药", "餐饮管理",
          "装饰材料", "电子科技", "矿产", "人参"]
FORMS = ["有限公司", "有限责任公司", "股份有限公司", "合作社"]
BRANCHES = ["长春分行营业部", "长春分行南关支行", "吉林分行船营支行", "松原分行宁江支行",
            "四平分行铁西支行", "延边分行延吉支行", "通化分行东昌支行", "白山分行浑江支行"]


def accounts(n: int, seed: int = 52165) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    items = []
    for i in range(n):
        account = f"0{rng.randrange(10**17, 10**18)}"  # 19 digits, a leading zero kept
        name = (f"{rng.choice(PLACES)}{rng.choice(WORDS)}{rng.choice(TRADES)}"
                f"{rng.choice(FORMS)}")
        opened = f"{rng.randint(1998, 2025)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        items.append({"reference": account, "payload": {
            "账号": account, "企业名称": name if i % 7 else f"{name}（第{i}号）",
            "网点": rng.choice(BRANCHES), "开户日期": opened}})
    return items


def repeat(runs: int, once: Callable[[], float]) -> list[float]:
    return [once() for _ in range(runs)]


def pg_schema(url: str) -> AbstractContextManager[str]:
    return private_schema(url, "bench")


def empty(url: str) -> None:
    """A fresh start for the next run (not timed)."""
    engine = make_engine(url)
    with engine.begin() as conn:
        pg = engine.dialect.name == "postgresql"
        conn.execute(text("TRUNCATE queue_items" if pg else "DELETE FROM queue_items"))
        conn.execute(text("DELETE FROM queues"))
    engine.dispose()


def direct(url: str, items: list[dict[str, Any]], runs: int) -> list[float]:
    engine = make_engine(url)
    migrate(engine)
    sessions = session_factory(engine)

    def once() -> float:
        empty(url)
        with sessions.begin() as session:
            queues.create_queue(session, "年检账户")
        started = time.perf_counter()
        with sessions.begin() as session:
            result = queues.add_items(session, "年检账户", items)
        elapsed = time.perf_counter() - started
        assert result == {"added": len(items), "skipped": 0}, result
        return elapsed

    try:
        return repeat(runs, once)
    finally:
        engine.dispose()


def over_http(url: str, data_dir: Path, items: list[dict[str, Any]], runs: int) -> list[float]:
    app = create_app(Settings(data_dir=data_dir, database_url=url), services=False)
    with app.state.sessions.begin() as session:
        token = create_token(session, Role.OPERATOR)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    client = httpx.Client(base_url=base, timeout=300,
                          headers={"Authorization": f"Bearer {token}"})

    def once() -> float:
        empty(url)
        client.post("/api/v1/queues", json={"name": "年检账户"}).raise_for_status()
        started = time.perf_counter()
        answer = client.post("/api/v1/queues/年检账户/items", json={"items": items})
        elapsed = time.perf_counter() - started
        answer.raise_for_status()
        assert answer.json() == {"added": len(items), "skipped": 0}, answer.text
        return elapsed

    try:
        return repeat(runs, once)
    finally:
        client.close()
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        app.state.engine.dispose()


def show(label: str, times: list[float], items: int) -> None:
    mid = statistics.median(times)
    print(f"{label:<34} median {mid:6.2f} s  ({items / mid:8,.0f} items/s)   "
          f"runs: {', '.join(f'{t:.2f}' for t in times)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=JILIN)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test",
                        help="PostgreSQL URL ('' to skip PostgreSQL)")
    args = parser.parse_args()
    items = accounts(args.items)
    body = len(httpx.Request("POST", "http://x", json={"items": items}).content)
    print(f"{args.items:,} items, {body / 2**20:.1f} MB as one JSON request; "
          f"median of {args.runs} runs each")
    folder = Path(tempfile.mkdtemp(prefix="workhand-bench-queue-"))
    try:
        sqlite = f"sqlite:///{folder / 'direct.db'}"
        show("add_items, SQLite file", direct(sqlite, items, args.runs), args.items)
        show("HTTP one request, SQLite file",
             over_http(f"sqlite:///{folder / 'http.db'}", folder / "http", items, args.runs),
             args.items)
        if args.pg:
            with pg_schema(args.pg) as url:
                show("add_items, PostgreSQL", direct(url, items, args.runs), args.items)
            with pg_schema(args.pg) as url:
                show("HTTP one request, PostgreSQL", over_http(url, folder / "pg", items,
                                                               args.runs), args.items)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
