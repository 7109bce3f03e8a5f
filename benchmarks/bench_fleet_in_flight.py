"""A fleet watch's memory when every poll it may run at once is receiving a page: the worst case at 500.

The fleet benchmark (``bench_fleet_watch.py``) paces requests as Truto and Slack would, so only a few
pages are in flight at a time, and its 500 workspaces are 50 with a tenth of the token's budget. This one
takes the pacing away: N workspaces, each one page of 1,000 channels padded to about 1.5 KB as Slack's
objects are (1.5 MB of JSON a page), served at once by a local server. The watch then starts as many polls
as it may (``max_concurrent_polls``) and each receives its page at the same time. What the watch holds
beyond its per-workspace state is those answers and the page being read; it must not grow with N.

    .venv/bin/python benchmarks/bench_fleet_in_flight.py 32 128 256
    .venv/bin/python benchmarks/bench_fleet_in_flight.py --tracemalloc 256   # Python's own peak too

Each N runs in a process of its own (memory one run leaves must not hide the next one's).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

from _common import REPO

from tests.support.hostile_servers import HostileServer, padded_list

PAGE = os.sysconf("SC_PAGE_SIZE")
TOKEN = "bench-in-flight-token-0123456789"


def rss() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE


def one(workspaces: int, trace: bool) -> None:
    from airflow_provider_truto.auto_join.schedule import DEFAULT_MAX_CONCURRENT_POLLS
    from airflow_provider_truto.triggers.truto import TrutoNewChannelsTrigger

    # What a triggerer has loaded before any trigger runs: not the watch's growth.
    for module in ("client.async_client", "hooks.truto", "triggers.fleet_watch"):
        __import__(f"airflow_provider_truto.{module}")
    with HostileServer(padded_list(1, 1000)) as server:
        os.environ["AIRFLOW_CONN_TRUTO_DEFAULT"] = json.dumps(
            {
                "conn_type": "truto",
                "host": server.url,
                "password": TOKEN,
                "extra": {"rate_limit": "off", "environment_rate_limit": "off"},
            }
        )
        peak = start = rss()

        async def watch() -> float:
            nonlocal peak
            trigger = TrutoNewChannelsTrigger(
                integrated_account_ids=[f"ws-{n:04d}" for n in range(workspaces)],
                created_after="2021-01-01T00:00:00Z",  # the padded channels are older: no event
                poll_interval=600,
                slack_list_rate_limit="off",
            )
            events = trigger.run()
            waiting = asyncio.ensure_future(anext(events))  # type: ignore[arg-type]
            began = time.monotonic()
            while len(server.requests) < workspaces and time.monotonic() - began < 300:
                await asyncio.sleep(0.01)
                peak = max(peak, rss())
            await asyncio.sleep(0.5)  # the last pages read
            peak = max(peak, rss())
            waiting.cancel()
            await asyncio.gather(waiting, return_exceptions=True)
            await events.aclose()  # type: ignore[attr-defined]
            return time.monotonic() - began

        if trace:
            tracemalloc.start()
        seconds = asyncio.run(watch())
        traced = f", tracemalloc peak {tracemalloc.get_traced_memory()[1] / 1e6:.0f} MB" if trace else ""
    print(
        f"{workspaces} workspaces ({DEFAULT_MAX_CONCURRENT_POLLS} polls at once): {len(server.requests)} "
        f"pages of 1,000 channels (1.5 MB of JSON each) in {seconds:.1f} s; watcher RSS growth peak "
        f"+{(peak - start) / 1e6:.0f} MB{traced}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("workspaces", type=int, nargs="*", default=[1, 32, 128, 256])
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one(args.workspaces[0], args.tracemalloc)
        return
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    for workspaces in args.workspaces:
        command = [sys.executable, __file__, "--one", str(workspaces)]
        subprocess.run([*command, *(["--tracemalloc"] if args.tracemalloc else [])], check=True, cwd=REPO)


if __name__ == "__main__":
    main()
