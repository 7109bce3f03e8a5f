"""Six "hosts" joining one Slack workspace at Truto's real limits: pacing without and with a shared Redis.

Six worker processes, each with its own lock-file directory (as on six Celery hosts or Kubernetes pods), each
join 20 channels of ONE integrated account through ``TrutoHook.join_channel``, one after another as a
``JoinChannelOperator`` task does. The sandbox runs in its own process and enforces Truto's real limits:
50 requests per 10 s per account (500 per token), answering 429 with ``Retry-After: 10``. The connection
paces at the same figures (the defaults). Floor: 120 joins at 50 per 10 s = 24 s.

Three runs side by side: one host (the six workers share one lock-file directory: today's single-host
case), six hosts with lock files only, and six hosts sharing the budgets through Redis
(``rate_limit_redis_conn_id``). Goal (issue 15): with Redis at most 2% of requests answered 429 and the
whole within 1.15x the floor.

    python benchmarks/bench_shared_pacing.py        # about 2 minutes; needs redis-server (Debian package)
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import REPO

sys.path.insert(0, str(REPO))  # tests.support.redis_server: the one owner of "start a redis-server"

from tests.support.redis_server import RedisServer

TOKEN = "bench-token-0123456789"
ACCOUNT = "workspace-1"
WORKERS = 6
PER_WORKER = 20
ACCOUNT_LIMIT = (50, 10.0)
TOKEN_LIMIT = (500, 10.0)
RETRY_AFTER = 10
JOIN = "/unified/instant-messaging/channels/join"


def serve_sandbox(pipe: Any, channels: int) -> None:
    """The sandbox, in its own process: sends its URL and channel ids, serves, then sends the join log."""
    from airflow_provider_truto.testing import TrutoSandbox

    sandbox = TrutoSandbox(
        TOKEN,
        account_rate_limit=ACCOUNT_LIMIT,
        token_rate_limit=TOKEN_LIMIT,
        rate_limit_retry_after=RETRY_AFTER,
    )
    sandbox.add_account(ACCOUNT)
    ids = [channel["id"] for channel in sandbox.seed_channels(ACCOUNT, channels, seed=1, mixed=False)]
    sandbox.start()
    pipe.send((sandbox.url, ids))
    pipe.recv()
    pipe.send([(r.status, r.at) for r in sandbox.requests if r.path == JOIN])
    sandbox.stop()


def join_worker(env: dict[str, str], channels: list[str], ready: Any, go: Any, results: Any) -> None:
    """One task on one host: imports Airflow first, then joins its channels once every worker is ready."""
    os.environ.update(env)
    from airflow_provider_truto.exceptions import TrutoError
    from airflow_provider_truto.hooks.truto import TrutoHook

    hook = TrutoHook()
    # Start-up is not pacing: read the connections, build the client and import redis before the clock
    # starts (six processes importing at once on a small machine take seconds).
    if hook.client.config.rate_limit_redis is not None:
        import redis  # noqa: F401
    ready.release()
    go.wait()
    failed = 0
    for channel in channels:
        try:
            hook.join_channel(channel, idempotency_key=f"bench-{channel}")
        except TrutoError:
            failed += 1
    hook.close()
    results.put((time.time(), failed))


def run(scenario: str, redis: RedisServer, work: Path) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    sandbox_end, here = context.Pipe()
    sandbox = context.Process(target=serve_sandbox, args=(sandbox_end, WORKERS * PER_WORKER))
    sandbox.start()
    url, channel_ids = here.recv()
    extra: dict[str, Any] = {"integrated_account_id": ACCOUNT}  # pacing at the defaults: 50/10 and 500/10
    if scenario == "redis":
        extra["rate_limit_redis_conn_id"] = "pacing_redis"
    redis_conn = {"conn_type": "redis", "host": "127.0.0.1", "port": redis.port, "extra": {"db": 3}}
    ready, go, results = context.Semaphore(0), context.Event(), context.Queue()
    workers = []
    for n in range(WORKERS):
        host_dir = work / scenario / ("one-host" if scenario == "one host" else f"host-{n}")
        env = {
            "AIRFLOW_CONN_TRUTO_DEFAULT": json.dumps(
                {"conn_type": "truto", "host": url, "password": TOKEN, "extra": extra}
            ),
            "AIRFLOW_CONN_PACING_REDIS": json.dumps(redis_conn),
            "TRUTO_RATE_LIMIT_DIR": str(host_dir),
        }
        mine = channel_ids[n * PER_WORKER : (n + 1) * PER_WORKER]
        workers.append(context.Process(target=join_worker, args=(env, mine, ready, go, results)))
    for worker in workers:
        worker.start()
    for _ in workers:
        ready.acquire()
    started = time.time()
    go.set()
    finished = [results.get(timeout=900) for _ in workers]
    for worker in workers:
        worker.join(30)
    here.send("stop")
    joins = here.recv()
    sandbox.join(30)
    limited = sum(1 for status, _ in joins if status == 429)
    return {
        "requests": len(joins),
        "limited": limited,
        "failed": sum(failed for _, failed in finished),
        "wall": max(done for done, _ in finished) - started,
    }


def main() -> None:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed: apt-get install redis-server")
    work = Path(tempfile.mkdtemp(prefix="truto-bench-pacing-"))
    redis = RedisServer(binary, work).start()
    floor = WORKERS * PER_WORKER / (ACCOUNT_LIMIT[0] / ACCOUNT_LIMIT[1])
    scenarios = {
        "one host": "1 host, 6 workers, one lock-file dir",
        "lock files": "6 hosts, lock files only",
        "redis": "6 hosts, shared through Redis",
    }
    try:
        rows = {scenario: run(scenario, redis, work) for scenario in scenarios}
    finally:
        redis.kill()
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"{WORKERS} processes x {PER_WORKER} joins in one account; Truto's limits 50/10 s per account, "
        f"Retry-After {RETRY_AFTER}; floor {floor:.0f} s\n"
    )
    print("| run | requests | answered 429 | joins failed | wall time | vs floor |")
    print("|---|---:|---:|---:|---:|---:|")
    for scenario, label in scenarios.items():
        row = rows[scenario]
        share = row["limited"] / row["requests"] if row["requests"] else 0.0
        print(
            f"| {label} | {row['requests']} | {row['limited']} ({share:.1%}) | {row['failed']} "
            f"| {row['wall']:.1f} s | {row['wall'] / floor:.2f}x |"
        )


if __name__ == "__main__":
    main()
