"""Per-call cost of a join through TrutoHook against a raw keep-alive ``requests.Session``, and of the
trigger's transport, AsyncTrutoClient, against a raw keep-alive ``httpx.AsyncClient``.

The sandbox runs in its own process (so it does not share our GIL); the variants are interleaved round by
round, and the medians of the per-round means are compared. Goal (issue 2): the hook at most 1.10x raw;
the async client (issue 12) the same against raw httpx. A batch's per-channel bookkeeping (issue 24: the
progress count, the metrics sent to a real StatsD client over UDP) is measured on top of the hook's call.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import requests
from _common import median
from statsd import StatsClient

from airflow_provider_truto.client.async_client import AsyncTrutoClient
from airflow_provider_truto.client.sync_client import TrutoClient, TrutoConfig
from airflow_provider_truto.hooks.metrics import AirflowMetrics
from airflow_provider_truto.hooks.truto import TrutoHook
from airflow_provider_truto.operators.join_progress import JoinProgress
from airflow_provider_truto.pacing.limits import RateLimit

ACCOUNT = "bench-account"
TOKEN = "bench-token-0123456789"


def start_sandbox() -> tuple[subprocess.Popen[str], str]:
    command = [
        sys.executable, "-m", "airflow_provider_truto.testing",
        "--account", ACCOUNT, "--channels", "50", "--token", TOKEN,
    ]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip().split("=", 1)[1]
    proc.stdout.readline(), proc.stdout.readline()
    return proc, url


def main(rounds: int = 15, calls: int = 200) -> None:
    sandbox, url = start_sandbox()
    try:
        listed = requests.get(
            f"{url}/unified/instant-messaging/channels",
            params={"integrated_account_id": ACCOUNT, "limit": 50},
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        ).json()["result"]
        channel = next(c["id"] for c in listed if c["type"] == "channel" and c["status"] == "active")
        join_url = f"{url}/unified/instant-messaging/channels/join"
        body = json.dumps({"channel": {"id": channel}}).encode()
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        session = requests.Session()

        def raw_session() -> None:
            response = session.post(
                join_url, params={"integrated_account_id": ACCOUNT}, data=body,
                headers={**headers, "Idempotency-Key": str(uuid.uuid4())}, timeout=30,
            )  # fmt: skip
            response.raise_for_status()
            response.json()

        def new_connection() -> None:
            response = requests.post(
                join_url, params={"integrated_account_id": ACCOUNT}, data=body,
                headers={**headers, "Idempotency-Key": str(uuid.uuid4())}, timeout=30,
            )  # fmt: skip
            response.raise_for_status()
            response.json()

        os.environ["AIRFLOW_CONN_TRUTO_BENCH"] = json.dumps(
            {"conn_type": "truto", "host": url, "password": TOKEN,
             "extra": {"integrated_account_id": ACCOUNT, "rate_limit": "off",
                       "environment_rate_limit": "off"}}
        )  # fmt: skip
        hook = TrutoHook("truto_bench")
        # The same hook, its metrics sent to a real StatsD client (UDP to a local socket nobody reads),
        # and a batch's per-channel bookkeeping: the progress count and the join's own metric.
        statsd_sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        statsd_sink.bind(("127.0.0.1", 0))
        measured = TrutoHook("truto_bench")
        measured.__dict__["metrics"] = AirflowMetrics(StatsClient("127.0.0.1", statsd_sink.getsockname()[1]))
        progress = JoinProgress(10**9, log=logging.getLogger("bench"), least_seconds=None)

        def join_as_a_batch_does() -> None:
            measured.join_channel(channel)
            progress.record("joined")
            measured.metrics.joined("joined")

        unlimited = RateLimit(1_000_000, 1.0)  # pacing on, but never waiting: measures its own cost
        paced = TrutoClient(
            TrutoConfig(
                token=TOKEN,
                base_url=url,
                integrated_account_id=ACCOUNT,
                account_rate_limit=unlimited,
                environment_rate_limit=unlimited,
            )
        )

        # The async variants run their calls one after another on one event loop, as a trigger's poll does.
        loop = asyncio.new_event_loop()
        raw_async = httpx.AsyncClient(timeout=30)
        unpaced = TrutoConfig(
            token=TOKEN,
            base_url=url,
            integrated_account_id=ACCOUNT,
            account_rate_limit=None,
            environment_rate_limit=None,
        )
        async_client = AsyncTrutoClient(unpaced)

        async def raw_async_join() -> None:
            response = await raw_async.post(
                join_url, params={"integrated_account_id": ACCOUNT}, content=body,
                headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
            )  # fmt: skip
            response.raise_for_status()
            response.json()

        async def async_client_join() -> None:
            await async_client.unified(
                "instant-messaging", "channels", "join", body={"channel": {"id": channel}}
            )

        def on_loop(join: Callable[[], Any]) -> Callable[[int], None]:
            async def several(n: int) -> None:
                for _ in range(n):
                    await join()

            return lambda n: loop.run_until_complete(several(n))

        variants: dict[str, Callable[[], object]] = {
            "raw keep-alive requests.Session": raw_session,
            "TrutoHook.join_channel (pacing off)": lambda: hook.join_channel(channel),
            "... metrics to StatsD, progress counted": join_as_a_batch_does,
            "TrutoClient join, shared pacing on (file locks)": lambda: paced.unified(
                "instant-messaging", "channels", "join", body={"channel": {"id": channel}}
            ),
            "new connection per call": new_connection,
        }
        async_variants = {
            "raw keep-alive httpx.AsyncClient": on_loop(raw_async_join),
            "AsyncTrutoClient join (pacing off)": on_loop(async_client_join),
        }
        batches: dict[str, Callable[[int], None]] = {
            **{name: _repeat(fn) for name, fn in variants.items()},
            **async_variants,
        }
        for batch in batches.values():  # warm up connections and code paths
            batch(20)
        per_call: dict[str, list[float]] = {name: [] for name in batches}
        for _ in range(rounds):
            for name, batch in batches.items():
                started = time.perf_counter()
                batch(calls)
                per_call[name].append((time.perf_counter() - started) / calls)
        print(f"Join per-call cost, {rounds} interleaved rounds x {calls} calls, sandbox in its own process:")
        _table(per_call, list(variants), "raw keep-alive requests.Session")
        _table(per_call, list(async_variants), "raw keep-alive httpx.AsyncClient")
        loop.run_until_complete(raw_async.aclose())
        loop.run_until_complete(async_client.aclose())
        loop.close()
        statsd_sink.close()
    finally:
        sandbox.send_signal(signal.SIGTERM)
        sandbox.wait(timeout=10)


def _repeat(fn: Callable[[], object]) -> Callable[[int], None]:
    def several(n: int) -> None:
        for _ in range(n):
            fn()

    return several


def _table(per_call: dict[str, list[float]], names: list[str], baseline: str) -> None:
    base = median(per_call[baseline])
    for name in names:
        samples = per_call[name]
        print(f"  {name:50s} {median(samples) * 1e6:8.0f} us  {median(samples) / base:5.2f}x")


if __name__ == "__main__":
    main()
