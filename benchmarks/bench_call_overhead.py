"""Per-call cost of a join through TrutoHook against a raw keep-alive ``requests.Session``.

The sandbox runs in its own process (so it does not share our GIL); the variants are interleaved round by
round, and the medians of the per-round means are compared. Goal (issue 2): the hook at most 1.10x raw.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable

import requests
from _common import median

from airflow_provider_truto.client import TrutoClient, TrutoConfig
from airflow_provider_truto.hooks.truto import TrutoHook
from airflow_provider_truto.ratelimit import RateLimit

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
        unlimited = RateLimit(1_000_000, 1.0)  # pacing on, but never waiting: measures its own cost
        paced = TrutoClient(
            TrutoConfig(
                token=TOKEN,
                base_url=url,
                integrated_account_id=ACCOUNT,
                account_rate_limit=unlimited,
                token_rate_limit=unlimited,
            )
        )

        variants: dict[str, Callable[[], None]] = {
            "raw keep-alive requests.Session": raw_session,
            "TrutoHook.join_channel (pacing off)": lambda: hook.join_channel(channel),
            "TrutoClient join, shared pacing on (file locks)": lambda: paced.unified(
                "instant-messaging", "channels", "join", body={"channel": {"id": channel}}
            ),
            "new connection per call": new_connection,
        }
        for fn in variants.values():  # warm up connections and code paths
            for _ in range(20):
                fn()
        per_call: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(rounds):
            for name, fn in variants.items():
                started = time.perf_counter()
                for _ in range(calls):
                    fn()
                per_call[name].append((time.perf_counter() - started) / calls)
        base = median(per_call["raw keep-alive requests.Session"])
        print(f"Join per-call cost, {rounds} interleaved rounds x {calls} calls, sandbox in its own process:")
        for name, samples in per_call.items():
            print(f"  {name:50s} {median(samples) * 1e6:8.0f} us  {median(samples) / base:5.2f}x")
    finally:
        sandbox.send_signal(signal.SIGTERM)
        sandbox.wait(timeout=10)


if __name__ == "__main__":
    main()
