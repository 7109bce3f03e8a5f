"""Auto-join across 200 workspaces: 200 accounts x 25 new channels (5,000 joins) on the sandbox.

The sandbox adds 20 ms to every request (a network, not a loopback) and enforces Truto's two limits
scaled 10x for speed: 500 requests/s per token and 50/s per account; the connection paces the client at
the same figures. Floor: 5,000 joins / 500 per second = 10 s. Goal (issue 7): every channel joined, the
join phase within 1.3x the floor, 429s under 2% of requests.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from _common import airflow_home, dags_test

from airflow_provider_truto.testing import TrutoSandbox

TOKEN = "bench-token-0123456789"
ACCOUNTS = 200
PER_ACCOUNT = 25
TOKEN_RATE = (500, 1.0)
ACCOUNT_RATE = (50, 1.0)
LATENCY_MS = 20.0
JOIN = "/unified/instant-messaging/channels/join"


def main() -> None:
    _, env = airflow_home()
    now = datetime.now(timezone.utc)
    with TrutoSandbox(
        TOKEN, account_rate_limit=ACCOUNT_RATE, token_rate_limit=TOKEN_RATE, latency_ms=LATENCY_MS
    ) as sandbox:
        accounts = [sandbox.add_account(f"workspace-{n:03d}").id for n in range(ACCOUNTS)]
        for seed, account in enumerate(accounts):
            recent = now - timedelta(hours=1)
            sandbox.seed_channels(account, PER_ACCOUNT, seed=seed, mixed=False, start=recent, end=now)
        conn = sandbox.airflow_connection(accounts[0])
        conf = {"created_after": "2000-01-01T00:00:00Z", "integrated_account_ids": "all"}
        started = time.monotonic()
        dags_test(env, "example_truto_auto_join_channels", conn, conf)
        wall = time.monotonic() - started
        requests = sandbox.requests
        joins = [r for r in requests if r.path == JOIN and r.status == 200]
        counts = sandbox.join_counts()
    total = ACCOUNTS * PER_ACCOUNT
    floor = total / (TOKEN_RATE[0] / TOKEN_RATE[1])
    join_phase = joins[-1].at - joins[0].at if joins else 0.0
    limited = sum(1 for r in requests if r.status == 429)
    print(f"{ACCOUNTS} accounts x {PER_ACCOUNT} new channels, {LATENCY_MS:g} ms latency, limits 500/s per")
    print("token and 50/s per account, `airflow dags test` with integrated_account_ids='all':")
    print(f"  joined {len(counts)} of {total}, each once: {set(counts.values()) == {1}}")
    print(f"  requests {len(requests)}, of them 429: {limited} ({limited / len(requests):.2%})")
    print(f"  floor {floor:.0f} s; join phase {join_phase:.1f} s = {join_phase / floor:.2f}x")
    print(f"  whole `airflow dags test` {wall:.1f} s (Airflow start-up, discovery and listing included)")


if __name__ == "__main__":
    main()
