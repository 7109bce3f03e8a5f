"""Watching a fleet of Slack workspaces for new channels: how soon, how cheaply, how exactly, how lean.

The sandbox runs in its own process (the CLI) with Truto's limits (500 requests / 10 s per token, 50 / 10 s
per account, 429 with ``Retry-After: 10``) and Slack's list tier (20 ``conversations.list`` calls a minute
per workspace, Slack's 429 with its own ``Retry-After`` passed through), ``--latency-ms`` added to every
request (a network and Slack behind Truto, not a loopback). N workspaces of 2,000 channels each (mixed:
public, private, DMs, archived, already joined). While the watch runs, channels are created at random
moments in random workspaces, and one more workspace (with its own 2,000 older channels) is connected.

This process is the triggerer: it drives the triggers' ``run()`` directly, all in one asyncio loop, with
the connection pacing at the same limits (lock files in a fresh directory), and records when each event
arrives. Every request is counted at the server (``--request-log``). Designs:

- ``today``: one trigger per workspace, as the trigger was before it could watch a fleet (poll every
  60 s, pages of 100, every page read and held each poll, every type and state listed). The workspace
  connected later has no trigger.
- ``fleet``: one ``TrutoNewChannelsTrigger(integrated_account_ids="all")`` with its defaults.

Figures per design: creation -> event p50 / p95 / max; every created channel reported exactly once and
nothing older reported; when the workspace connected later was first reported; requests per workspace
per hour and Slack list calls per workspace per minute (mean, and the most in any 60 s); the share of
the token's budget used (over the run, and the most in any 10 s); answers 429 (Truto's and Slack's); the
watcher's memory growth (RSS above the start, and with ``--tracemalloc`` Python's own peak); its CPU
time; the event loop's worst lag.

**500 workspaces, scaled.** ``--scale 10`` runs N workspaces with a tenth of the token's budget
(50 / 10 s, in the sandbox and in the connection's pacing): each workspace then has the share of the
token it would have among 10 x N. Per-account and Slack limits stay as they are, since they are per
workspace. So ``--workspaces 50 --scale 10`` stands for 500 workspaces. Memory is then that of N
workspaces' watchers; per-workspace state is counted separately where it matters (see docs/benchmarks.md).

    .venv/bin/python benchmarks/bench_fleet_watch.py --workspaces 50            # 50 workspaces
    .venv/bin/python benchmarks/bench_fleet_watch.py --workspaces 50 --scale 10 # 500, scaled
    .venv/bin/python benchmarks/bench_fleet_watch.py --quick                    # a smoke run, ~2 min

The run lasts ``--minutes`` of channel creation, then waits (up to ``--settle`` seconds) until every
created channel of a watched workspace is reported, so slow designs are measured, not cut off.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import math
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from _common import REPO

TOKEN = "bench-fleet-token-0123456789"
CHANNELS = "/unified/instant-messaging/channels"
ACCOUNTS = "/integrated-account"
TOKEN_LIMIT = (500, 10.0)
ACCOUNT_LIMIT = (50, 10.0)
SLACK_LIST_TIER = (20, 60.0)
LATE = "ws-late"
START_UP_SECONDS = 30.0  # the event loop's lag is reported apart for the first seconds (clients built)
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Setup:
    workspaces: int
    channels: int
    scale: int
    minutes: float
    new_channels: int
    connect_at: float
    settle: float
    latency_ms: float
    seed: int
    tracemalloc: bool
    max_page_size: int

    @property
    def token_limit(self) -> tuple[int, float]:
        return TOKEN_LIMIT[0] // self.scale, TOKEN_LIMIT[1]

    @property
    def creation_window(self) -> tuple[float, float]:
        return 15.0, self.minutes * 60

    @property
    def stands_for(self) -> int:
        return self.workspaces * self.scale


@dataclass
class Plan:
    workspaces: list[str]
    channels: dict[str, tuple[str, float]]  # id -> (workspace, planned second)

    def to_json(self, setup: Setup) -> dict[str, Any]:
        return {
            "accounts": [{"at": setup.connect_at, "id": LATE, "channels": setup.channels, "seed": 99_999}],
            "channels": [
                {"at": at, "account": workspace, "id": channel_id, "name": f"bench-{channel_id.lower()}"}
                for channel_id, (workspace, at) in sorted(self.channels.items(), key=lambda kv: kv[1][1])
            ],
        }


def make_plan(setup: Setup) -> Plan:
    """Channels at uniform random moments in random workspaces; in the late one only once it is there."""
    rng = random.Random(setup.seed)
    workspaces = [f"ws-{n:03d}" for n in range(setup.workspaces)]
    start, end = setup.creation_window
    channels: dict[str, tuple[str, float]] = {}
    for n in range(setup.new_channels):
        at = rng.uniform(start, end)
        # The late workspace takes its share of the channels created after it was connected.
        eligible = workspaces + ([LATE] if at > setup.connect_at + 5 else [])
        channels[f"CBENCH{n:05d}"] = (rng.choice(eligible), round(at, 3))
    return Plan(workspaces, channels)


# -- the sandbox, in its own process -------------------------------------------------------------------------


class Sandbox:
    def __init__(self, setup: Setup, plan: Plan, directory: Path) -> None:
        self.log_path = directory / "requests.jsonl"
        plan_path = directory / "plan.json"
        plan_path.write_text(json.dumps(plan.to_json(setup)))
        accounts = [arg for workspace in plan.workspaces for arg in ("--account", workspace)]
        command = [
            sys.executable, "-m", "airflow_provider_truto.testing", "--token", TOKEN, *accounts,
            "--channels", str(setup.channels), "--seed", str(setup.seed),
            "--rate-limit", _spec(ACCOUNT_LIMIT), "--token-rate-limit", _spec(setup.token_limit),
            "--retry-after", "10", "--slack-list-limit", _spec(SLACK_LIST_TIER),
            "--latency-ms", str(setup.latency_ms), "--plan", str(plan_path),
            "--request-log", str(self.log_path), "--max-page-size", str(setup.max_page_size),
        ]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip().split("=", 1)[1]
        self.process.stdout.readline()
        if self.process.stdout.readline().strip() != "ready":
            raise SystemExit("the sandbox did not start")
        self.started = time.time()

    def get(self, path: str) -> Any:
        import urllib.request

        request = urllib.request.Request(self.url + path, headers={"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.load(answer)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> list[dict[str, Any]]:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)
        return [json.loads(line) for line in self.log_path.read_text().splitlines()]


def _spec(limit: tuple[int, float]) -> str:
    return f"{limit[0]}/{limit[1]:g}"


# -- the designs -------------------------------------------------------------------------------------------


def today_triggers(plan: Plan, created_after: str) -> list[Any]:
    """One watcher per workspace known when the DAG was written, polling as the trigger did before."""
    from _today import TodayWatcher

    cutoff = datetime.fromisoformat(created_after)
    return [TodayWatcher(workspace, cutoff) for workspace in plan.workspaces]


@dataclass(frozen=True)
class Design:
    triggers: Callable[[Plan, str], list[Any]]
    watches_new_workspaces: bool


def fleet_trigger(plan: Plan, created_after: str) -> list[Any]:
    """One trigger for every Slack workspace of the token ("all"), with the trigger's defaults."""
    from airflow_provider_truto.triggers.truto import TrutoNewChannelsTrigger

    return [TrutoNewChannelsTrigger(integrated_account_ids="all", created_after=created_after)]


DESIGNS: dict[str, Design] = {
    "today": Design(today_triggers, watches_new_workspaces=False),
    "fleet": Design(fleet_trigger, watches_new_workspaces=True),
}


# -- the watcher: this process -------------------------------------------------------------------------------


@dataclass
class Watch:
    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    rss_start: int = 0
    rss_peak: int = 0
    rss_end: int = 0
    traced_peak: int = 0
    worst_lag: float = 0.0
    worst_lag_after_start: float = 0.0
    cpu: float = 0.0
    seconds: float = 0.0


def rss() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def watch(design: Design, triggers: Sequence[Any], setup: Setup, plan: Plan, sandbox: Sandbox) -> Watch:
    result = Watch()
    watched = {*plan.workspaces, *([LATE] if design.watches_new_workspaces else [])}
    due = {cid for cid, (workspace, _) in plan.channels.items() if workspace in watched}
    reported: set[str] = set()

    async def consume(trigger: Any) -> None:
        async for event in trigger.run():
            result.events.append((time.time(), event.payload))
            for channel in event.payload.get("channels") or ():
                reported.add(channel["id"])

    async def tick() -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(0.1)
            lag = time.monotonic() - before - 0.1
            result.worst_lag = max(result.worst_lag, lag)
            if before - started > START_UP_SECONDS:
                result.worst_lag_after_start = max(result.worst_lag_after_start, lag)
            result.rss_peak = max(result.rss_peak, rss())

    if setup.tracemalloc:
        tracemalloc.start()
    result.rss_start = result.rss_peak = rss()
    cpu_before = cpu_seconds()
    started = time.monotonic()
    tasks = [asyncio.create_task(consume(trigger)) for trigger in triggers]
    ticker = asyncio.create_task(tick())
    end_of_creation = sandbox.started + setup.minutes * 60
    while time.time() < end_of_creation or (
        not due <= reported and time.time() < end_of_creation + setup.settle
    ):
        await asyncio.sleep(1)
        for task in tasks:
            if task.done() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    result.seconds = time.monotonic() - started
    result.cpu = cpu_seconds() - cpu_before
    result.rss_end = rss()
    if setup.tracemalloc:
        result.traced_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    for task in [*tasks, ticker]:
        task.cancel()
    await asyncio.gather(*tasks, ticker, return_exceptions=True)
    return result


# -- figures ------------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], share: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))
    return ordered[index]


def most_in_window(times: Sequence[float], seconds: float) -> int:
    ordered, most, first = sorted(times), 0, 0
    for last, moment in enumerate(ordered):
        while ordered[first] <= moment - seconds:
            first += 1
        most = max(most, last - first + 1)
    return most


def parse(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def figures(
    design: str, setup: Setup, plan: Plan, result: Watch, log: list[dict[str, Any]], late_connected: float
) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    first_seen: dict[str, float] = {}
    latency: list[float] = []
    late_first: float | None = None
    error_events = 0
    for received, payload in result.events:
        if payload.get("status") != "success":
            error_events += 1
            continue
        for channel in payload["channels"]:
            counts[channel["id"]] += 1
            if channel["id"] not in first_seen:
                first_seen[channel["id"]] = received
                if channel["id"] in plan.channels:
                    latency.append(received - parse(channel["created_at"]))
            if channel["integrated_account_id"] == LATE and late_first is None:
                late_first = received
    planned = set(plan.channels)
    late_channels = {cid for cid, (workspace, _) in plan.channels.items() if workspace == LATE}
    duration = result.seconds
    log = [line for line in log if line["path"] != "/_sandbox/state"]
    lists = [line for line in log if line["path"] == CHANNELS]
    by_workspace: dict[str, list[float]] = defaultdict(list)
    for line in lists:
        by_workspace[line["account"]].append(line["at"])
    token_rate = setup.token_limit[0] / setup.token_limit[1]
    window_most = most_in_window([line["at"] for line in log], setup.token_limit[1])
    limited = [line for line in log if line["status"] == 429]
    watched_lists = [by_workspace[w] for w in plan.workspaces]
    return {
        "design": design,
        "workspaces": setup.workspaces,
        "stands_for": setup.stands_for,
        "events": len(result.events),
        "error_events": error_events,
        "created": len(planned),
        "reported_once": sum(1 for cid in planned if counts[cid] == 1),
        "reported_twice_or_more": sum(1 for cid in planned if counts[cid] > 1),
        "never_reported": len(planned - set(counts)),
        "never_reported_in_late_workspace": len(late_channels - set(counts)),
        "older_reported": sum(1 for cid in counts if cid not in planned),
        "latency_p50": percentile(latency, 0.50),
        "latency_p95": percentile(latency, 0.95),
        "latency_max": max(latency, default=math.nan),
        "late_workspace_first_report": (late_first - late_connected) if late_first else None,
        "seconds": duration,
        "requests": len(log),
        "list_requests_per_workspace_hour": len(lists) / max(1, len(by_workspace)) / duration * 3600,
        "slack_calls_per_minute_mean": sum(map(len, watched_lists)) / len(watched_lists) / duration * 60,
        "slack_calls_most_in_60s": max((most_in_window(t, 60) for t in watched_lists), default=0),
        "token_share": len(log) / (token_rate * duration),
        "token_share_most_10s": window_most / setup.token_limit[0],
        "answered_429": len(limited),
        "answered_429_slack": sum(1 for line in limited if line["remote_error"]),
        "share_429": len(limited) / max(1, len(log)),
        "rss_growth_mb": (result.rss_peak - result.rss_start) / 1e6,
        "rss_end_growth_mb": (result.rss_end - result.rss_start) / 1e6,
        "traced_peak_mb": result.traced_peak / 1e6 if setup.tracemalloc else None,
        "watcher_cpu_share": result.cpu / duration,
        "worst_loop_lag": result.worst_lag,
        "worst_loop_lag_after_start": result.worst_lag_after_start,
    }


def show(row: dict[str, Any], sandbox_cpu: float) -> None:
    late = row["late_workspace_first_report"]
    print(
        f"\n== {row['design']}: {row['workspaces']} workspaces"
        + (f" (standing for {row['stands_for']})" if row["stands_for"] != row["workspaces"] else "")
        + f", {row['seconds']:.0f} s watched, {row['events']} events ({row['error_events']} errors)"
    )
    print(
        f"  created {row['created']}: reported once {row['reported_once']}, more than once "
        f"{row['reported_twice_or_more']}, never {row['never_reported']} (of them in the late workspace "
        f"{row['never_reported_in_late_workspace']}); older channels reported: {row['older_reported']}"
    )
    print(
        f"  creation -> event: p50 {row['latency_p50']:.1f} s, p95 {row['latency_p95']:.1f} s, "
        f"max {row['latency_max']:.1f} s; late workspace first reported "
        + (f"{late:.0f} s after it was connected" if late is not None else "never")
    )
    print(
        f"  requests {row['requests']}: list requests per workspace per hour "
        f"{row['list_requests_per_workspace_hour']:.0f}; Slack list calls per workspace per minute "
        f"{row['slack_calls_per_minute_mean']:.1f} (most in any 60 s: {row['slack_calls_most_in_60s']})"
    )
    print(
        f"  token budget used {row['token_share']:.0%} "
        f"(most in any 10 s: {row['token_share_most_10s']:.0%}); answered 429: {row['answered_429']} "
        f"({row['share_429']:.2%}; Slack's {row['answered_429_slack']})"
    )
    traced = row["traced_peak_mb"]
    print(
        f"  watcher memory: RSS peak +{row['rss_growth_mb']:.0f} MB, "
        f"at the end +{row['rss_end_growth_mb']:.0f} MB"
        + (f", tracemalloc peak {traced:.0f} MB" if traced is not None else "")
        + f"; CPU {row['watcher_cpu_share']:.0%} of a core (sandbox {sandbox_cpu:.0%}); "
        f"worst event loop lag {row['worst_loop_lag'] * 1000:.0f} ms "
        f"({row['worst_loop_lag_after_start'] * 1000:.0f} ms after the first {START_UP_SECONDS:g} s)"
    )


def without_options(argv: Sequence[str], *names: str) -> list[str]:
    """``argv`` less the options ``names`` and their values (``--name value`` or ``--name=value``)."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in names:
            skip = True
        elif not arg.startswith(tuple(f"{name}=" for name in names)):
            kept.append(arg)
    return kept


def side_by_side(rows: list[dict[str, Any]]) -> None:
    """The designs' main figures in one table."""
    lines = [
        (
            "reported once / more / never / older",
            lambda r: (
                f"{r['reported_once']} / {r['reported_twice_or_more']} / "
                f"{r['never_reported']} / {r['older_reported']}"
            ),
        ),
        ("creation -> event p50 / p95", lambda r: f"{r['latency_p50']:.0f} s / {r['latency_p95']:.0f} s"),
        (
            "late workspace first reported",
            lambda r: (
                f"{r['late_workspace_first_report']:.0f} s"
                if r["late_workspace_first_report"] is not None
                else "never"
            ),
        ),
        ("list requests / workspace / hour", lambda r: f"{r['list_requests_per_workspace_hour']:.0f}"),
        (
            "token budget used (most in 10 s)",
            lambda r: f"{r['token_share']:.0%} ({r['token_share_most_10s']:.0%})",
        ),
        ("answered 429", lambda r: f"{r['share_429']:.2%}"),
        ("watcher RSS growth", lambda r: f"+{r['rss_growth_mb']:.0f} MB"),
        ("CPU of a core", lambda r: f"{r['watcher_cpu_share']:.0%}"),
        ("worst loop lag after start", lambda r: f"{r['worst_loop_lag_after_start'] * 1000:.0f} ms"),
    ]
    print("\n" + " | ".join(["", *(r["design"] for r in rows)]))
    for label, cell in lines:
        print(" | ".join([label, *(cell(r) for r in rows)]))


def state_per_workspace(workspaces: int) -> float:
    """Bytes a fleet watch keeps per workspace between polls, measured for ``workspaces`` of them: its
    place in the schedule (windows full of send times) and its watermark with ten ids reported below it."""
    from airflow_provider_truto.auto_join.fleet import WorkspaceWatch
    from airflow_provider_truto.auto_join.schedule import FleetBudgets, FleetSchedule
    from airflow_provider_truto.pacing.limits import RateLimit

    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    schedule = FleetSchedule(FleetBudgets(token=RateLimit(*TOKEN_LIMIT), account=RateLimit(*ACCOUNT_LIMIT)))
    states = {}
    watermark = datetime.now(timezone.utc)
    for n in range(workspaces):
        name = f"{n:08d}-0000-4000-8000-000000000000"  # an account id's length
        schedule.add(name, 0.0)
        for page in range(40):
            schedule.page_slot(name, page * 0.1)
        states[name] = WorkspaceWatch(watermark=watermark, seen_ids=[f"C{n:05d}{k:05d}" for k in range(10)])
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del schedule, states
    return used / workspaces


# -- one run ------------------------------------------------------------------------------------------------


def run(design: str, setup: Setup, keep: Path | None) -> dict[str, Any]:
    plan = make_plan(setup)
    with contextlib.ExitStack() as stack:
        if keep is None:
            directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="truto-fleet-bench-"))
        else:
            directory = str(keep / design)
            Path(directory).mkdir(parents=True, exist_ok=True)
        sandbox = Sandbox(setup, plan, Path(directory))
        try:
            os.environ["TRUTO_RATE_LIMIT_DIR"] = str(Path(directory) / "rate-limits")
            os.environ["AIRFLOW_CONN_TRUTO_DEFAULT"] = json.dumps(
                {
                    "conn_type": "truto",
                    "host": sandbox.url,
                    "password": TOKEN,
                    "extra": {
                        "rate_limit": _spec(ACCOUNT_LIMIT),
                        "environment_rate_limit": _spec(setup.token_limit),
                    },
                }
            )
            created_after = datetime.fromtimestamp(sandbox.started, timezone.utc).isoformat()
            triggers = DESIGNS[design].triggers(plan, created_after)
            cpu_before = sandbox.cpu_seconds()
            result = asyncio.run(watch(DESIGNS[design], triggers, setup, plan, sandbox))
            sandbox_cpu = (sandbox.cpu_seconds() - cpu_before) / result.seconds
            late = sandbox.get(f"{ACCOUNTS}/{LATE}")
        finally:
            log = sandbox.stop()
        if keep is not None:
            events = "".join(json.dumps({"at": at, **payload}) + "\n" for at, payload in result.events)
            (Path(directory) / "events.jsonl").write_text(events)
    row = figures(design, setup, plan, result, log, parse(late["created_at"]))
    show(row, sandbox_cpu)
    return row


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--design", choices=[*DESIGNS, "all"], default="all")
    parser.add_argument("--workspaces", type=int, default=50)
    parser.add_argument("--channels", type=int, default=2000, help="older channels per workspace")
    parser.add_argument("--scale", type=int, default=1, help="the token's budget divided by this")
    parser.add_argument("--minutes", type=float, default=5.0, help="how long channels are created")
    parser.add_argument("--new-channels", type=int, default=200, help="channels created during the run")
    parser.add_argument("--connect-at", type=float, default=45.0, help="second the late workspace connects")
    parser.add_argument("--settle", type=float, default=300.0, help="the longest wait for the last reports")
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--max-page-size", type=int, default=1000, help="the most channels a page holds (Truto passing less)"
    )
    parser.add_argument("--tracemalloc", action="store_true", help="also trace Python's allocations (slower)")
    parser.add_argument("--quick", action="store_true", help="10 workspaces x 500 channels, 1.5 minutes")
    parser.add_argument("--json", metavar="FILE", help="write the figures as JSON too")
    parser.add_argument(
        "--keep", metavar="DIR", type=Path, help="keep each run's request log and events here"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.workspaces, args.channels, args.minutes, args.new_channels = 10, 500, 1.5, 40
        args.connect_at, args.settle = 20.0, 120.0
    if TOKEN_LIMIT[0] % args.scale:
        parser.error(f"--scale must divide {TOKEN_LIMIT[0]}")
    setup = Setup(
        workspaces=args.workspaces,
        channels=args.channels,
        scale=args.scale,
        minutes=args.minutes,
        new_channels=args.new_channels,
        connect_at=args.connect_at,
        settle=args.settle,
        latency_ms=args.latency_ms,
        seed=args.seed,
        tracemalloc=args.tracemalloc,
        max_page_size=args.max_page_size,
    )
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="truto-fleet-bench-home-"))
    # One line per event from each trigger would bury the figures; warnings (retries) still show.
    os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"
    # What a triggerer has loaded before any trigger runs: not part of the watcher's growth.
    for module in ("client.async_client", "hooks.truto", "triggers.truto"):
        importlib.import_module(f"airflow_provider_truto.{module}")

    if args.design != "all":  # each design's own process says what it runs
        print(
            f"{setup.workspaces} workspaces x {setup.channels} channels"
            + (
                f" standing for {setup.stands_for} (token budget {_spec(setup.token_limit)})"
                if setup.scale > 1
                else ""
            )
            + f"; {setup.new_channels} channels created over {setup.minutes:g} min; one more workspace "
            f"connected at {setup.connect_at:g} s; Truto {_spec(TOKEN_LIMIT)} per token, "
            f"{_spec(ACCOUNT_LIMIT)} per account; Slack {_spec(SLACK_LIST_TIER)} list calls per workspace; "
            f"{setup.latency_ms:g} ms per request"
        )
    if args.design == "all":
        # Each design in a process of its own: memory a design leaves behind must not hide the next one's.
        rows = []
        for design in DESIGNS:
            with tempfile.NamedTemporaryFile(suffix=".json") as figures_file:
                child = without_options(sys.argv[1:], "--json", "--design")
                subprocess.run(
                    [sys.executable, __file__, *child, "--design", design, "--json", figures_file.name],
                    check=True,
                )
                rows.extend(json.loads(Path(figures_file.name).read_text()))
        side_by_side(rows)
    else:
        rows = [run(args.design, setup, args.keep)]
        if args.design == "fleet":
            rows[0]["state_bytes_per_workspace"] = per_workspace = state_per_workspace(500)
            print(
                f"  the watch's state between polls: {per_workspace / 1000:.1f} KB per workspace, "
                f"{per_workspace * 500 / 1e6:.2f} MB for 500 workspaces"
            )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
