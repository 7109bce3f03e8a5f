"""The auto-join DAG under ``airflow dags test`` joining 5,000 new channels, with Truto's limit scaled.

The sandbox (in this process, on loopback) enforces 50 requests per second per account; the connection
paces the client at the same rate. The floor is 5,000 joins / 50 per second = 100 s. Goal (issue 4): the
whole ``airflow dags test`` run within 1.3x the floor, every channel joined exactly once.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone

from _common import airflow_home, dags_test

from airflow_provider_truto.testing import TrutoSandbox

ACCOUNT = "bench-account"
TOKEN = "bench-token-0123456789"
CHANNELS = 5000
RATE = (50, 1.0)
JOIN = "/unified/instant-messaging/channels/join"


def main() -> None:
    _, env = airflow_home()
    now = datetime.now(timezone.utc)
    with TrutoSandbox(TOKEN, account_rate_limit=RATE) as sandbox:
        sandbox.add_account(ACCOUNT)
        sandbox.seed_channels(ACCOUNT, CHANNELS, seed=1, mixed=False, start=now - timedelta(hours=1), end=now)
        conn = sandbox.airflow_connection(ACCOUNT)
        started = time.monotonic()
        conf = {"created_after": "2000-01-01T00:00:00Z"}
        output = dags_test(env, "example_truto_auto_join_channels", conn, conf)
        wall = time.monotonic() - started
        requests = sandbox.requests
        joins = [r for r in requests if r.path == JOIN and r.status == 200]
        counts = sandbox.join_counts(ACCOUNT)
        statuses = sandbox.stats()["by_status"]
    floor = CHANNELS / (RATE[0] / RATE[1])
    join_phase = joins[-1].at - joins[0].at if joins else 0.0
    tasks = re.findall(r"Auto-join: joined (\d+)", output)
    print(f"5,000 new channels, sandbox limit {RATE[0]}/{RATE[1]:g}s per account, `airflow dags test`:")
    print(f"  joined {len(counts)} channels, each once: {set(counts.values()) == {1}}; report says {tasks}")
    print(f"  requests by status: {statuses}")
    print(f"  floor {floor:.0f} s; join phase {join_phase:.1f} s = {join_phase / floor:.2f}x")
    if joins:
        before = requests[0].at - started
        print(
            f"  timeline: first request at {before:.1f} s, first join at {joins[0].at - started:.1f} s, "
            f"last join at {joins[-1].at - started:.1f} s, dags test ended at {wall:.1f} s"
        )
    print(f"  whole `airflow dags test` {wall:.1f} s = {wall / floor:.2f}x the floor")


if __name__ == "__main__":
    main()
