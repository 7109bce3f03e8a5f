"""The fleet watcher's schedule (airflow_provider_truto/auto_join/schedule.py): every budget at once, the
cycle as short as they allow, fair, bounded; driven by a simulated clock, no sockets."""

from __future__ import annotations

import heapq
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from itertools import pairwise

import pytest

from airflow_provider_truto.auto_join.schedule import FleetBudgets, FleetSchedule, Window
from airflow_provider_truto.pacing.limits import SLACK_LIST_RATE_LIMIT, RateLimit

TRUTO_TOKEN = RateLimit(500, 10.0)
TRUTO_ACCOUNT = RateLimit(50, 10.0)


@dataclass
class Run:
    """What a simulated watcher sent: each page's send time and workspace, each poll's start."""

    sends: list[tuple[float, str]] = field(default_factory=list)
    starts: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    most_polling: int = 0

    def rate(self, start: float, end: float) -> float:
        return sum(1 for at, _ in self.sends if start <= at < end) / (end - start)

    def most_in(self, workspace: str, seconds: float) -> int:
        times = sorted(at for at, name in self.sends if name == workspace)
        first = most = 0
        for last, moment in enumerate(times):
            while times[first] <= moment - seconds:
                first += 1
            most = max(most, last - first + 1)
        return most

    def gaps(self, after: float) -> list[float]:
        return [b - a for starts in self.starts.values() for a, b in pairwise(starts) if a >= after]


def simulate(
    schedule: FleetSchedule,
    workspaces: int | dict[str, int],
    *,
    latency: float,
    until: float,
    pages: int = 2,
) -> Run:
    """A watcher's event loop in simulated time: polls started as the schedule says, each page paced by
    it and answered ``latency`` later; ``workspaces``: a count (each ``pages`` pages) or name -> pages."""
    sizes = workspaces if isinstance(workspaces, dict) else {f"ws-{n:03d}": pages for n in range(workspaces)}
    for name in sizes:
        schedule.add(name, 0.0)
    run = Run()
    events: list[tuple[float, int, str, str]] = [(0.0, 0, "schedule", "")]
    read: Counter[str] = Counter()
    order = 1
    wake = math.inf  # the one wake-up pending, as a watcher's loop has

    def later(at: float, kind: str, name: str = "") -> None:
        nonlocal order, wake
        if kind == "schedule":
            if at >= wake:
                return
            wake = at
        heapq.heappush(events, (at, order, kind, name))
        order += 1

    while events:
        now, _, kind, name = heapq.heappop(events)
        if now > until:
            break
        if kind == "schedule":
            if now == wake:
                wake = math.inf
            while (decision := schedule.next_poll(now)).workspace is not None:
                run.starts[decision.workspace].append(now)
                read[decision.workspace] = 0
                later(now, "page", decision.workspace)
            run.most_polling = max(run.most_polling, schedule.polling)
            if decision.wake_at < math.inf:
                later(decision.wake_at, "schedule")
        elif kind == "page":
            wait, reserved = schedule.page_slot(name, now)
            if not reserved:
                later(now + wait, "page", name)
                continue
            run.sends.append((now + wait, name))
            later(now + wait + latency, "answer", name)
        else:
            read[name] += 1
            if read[name] < sizes[name]:
                later(now, "page", name)
            else:
                schedule.finish(name, pages=read[name])
                later(now, "schedule")
    return run


def fleet(**settings: object) -> FleetSchedule:
    return FleetSchedule(FleetBudgets(token=TRUTO_TOKEN, account=TRUTO_ACCOUNT, **settings))  # type: ignore[arg-type]


# -- the cycle within every budget --------------------------------------------------------------------------


@pytest.mark.parametrize("latency", [0.1, 1.0])
def test_500_workspaces_cycle_on_half_the_tokens_budget(latency: float) -> None:
    run = simulate(fleet(), 500, latency=latency, until=400)

    # 25 requests a second: half of 500 / 10 s, never more, in every 10 s of the steady run.
    assert all(run.rate(start, start + 10) <= 25.1 for start in range(100, 390, 10))
    assert run.rate(100, 400) == pytest.approx(25, rel=0.02)
    # 1,000 pages a cycle at 25 a second: each workspace polled every 40 s, none skipped.
    gaps = run.gaps(after=100)
    assert len(run.starts) == 500 and min(gaps) >= 39 and max(gaps) <= 41.5 and len(gaps) >= 500 * 6
    assert max(run.most_in(name, 60) for name in run.starts) <= 10  # half of Slack's 20 a minute


def test_a_small_fleet_polls_every_poll_interval_and_no_sooner() -> None:
    run = simulate(fleet(poll_interval=30), 50, latency=0.1, until=300)
    gaps = run.gaps(after=0)
    assert min(gaps) >= 29.999 and max(gaps) <= 30.5
    assert run.rate(60, 300) == pytest.approx(100 / 30, rel=0.05)


def test_without_a_poll_interval_to_hold_it_slacks_half_tier_bounds_each_workspace() -> None:
    run = simulate(fleet(poll_interval=0.5), 50, latency=0.1, until=300)
    # Two pages a poll, ten list calls a minute: a poll every 12 s, whatever the token would allow.
    assert max(run.most_in(name, 60) for name in run.starts) == 10
    assert 11.9 <= sum(run.gaps(after=60)) / len(run.gaps(after=60)) <= 12.5


def test_the_share_applies_to_every_budget() -> None:
    run = simulate(fleet(share=0.2), 500, latency=0.1, until=400)
    assert run.rate(100, 400) == pytest.approx(10, rel=0.02)  # a fifth of 50 a second
    assert max(run.most_in(name, 60) for name in run.starts) <= 4  # a fifth of Slack's 20


def test_a_huge_workspace_pages_at_slacks_pace_while_the_others_go_on() -> None:
    sizes = {"huge": 30, **{f"ws-{n}": 2 for n in range(20)}}
    run = simulate(fleet(poll_interval=20), sizes, latency=0.1, until=400)
    # 30 pages at 10 a minute: three minutes a poll, the window never over its share.
    assert run.most_in("huge", 60) <= 10 and len(run.starts["huge"]) >= 2
    assert max(b - a for a, b in pairwise(run.starts["ws-0"])) <= 20.5


def test_polls_in_flight_never_exceed_the_bound() -> None:
    run = simulate(fleet(max_concurrent_polls=4), 100, latency=1.0, until=120)
    assert run.most_polling == 4
    assert run.rate(20, 120) == pytest.approx(4 / 1.0, rel=0.1)  # the bound, not the token, is the limit


def test_unpaced_budgets_leave_only_the_poll_interval() -> None:
    schedule = FleetSchedule(FleetBudgets(token=None, account=None, slack_list=None, poll_interval=1))
    run = simulate(schedule, 3, latency=0.01, until=10.5, pages=30)
    assert len(run.sends) == 3 * 30 * 10 + 3 * 30  # 30 pages a second each, the last round included
    assert schedule.page_slot("ws-000", 11.0) == (0.0, True)


# -- workspaces coming, going, failing ----------------------------------------------------------------------


def test_a_workspace_added_later_is_due_at_once_before_the_others() -> None:
    schedule = fleet(poll_interval=30)
    schedule.add("a", 0.0)
    assert schedule.next_poll(0.0).workspace == "a"
    schedule.finish("a", pages=1)
    assert schedule.next_poll(1.0).wake_at == 30.0
    assert schedule.add("late", 5.0) and not schedule.add("late", 6.0)
    assert schedule.next_poll(6.0).workspace == "late"
    assert len(schedule) == 2 and schedule.workspaces == ["a", "late"]


def test_a_workspace_removed_while_polled_frees_its_place() -> None:
    schedule = fleet(max_concurrent_polls=1)
    schedule.add("a", 0.0)
    schedule.add("b", 0.0)
    assert schedule.next_poll(0.0).workspace == "a" and schedule.polling == 1
    assert schedule.next_poll(0.0).workspace is None
    schedule.remove("a")
    schedule.finish("a", pages=1)  # its poll ends after it was dropped: nothing to do
    assert schedule.polling == 0 and "a" not in schedule
    assert schedule.next_poll(0.0).workspace == "b"


def test_a_429_holds_the_workspace_back_until_its_retry_after() -> None:
    schedule = fleet(poll_interval=5)
    schedule.add("a", 0.0)
    schedule.next_poll(0.0)
    schedule.finish("a", pages=1, retry_at=42.0)
    assert schedule.next_poll(10.0) == schedule.next_poll(10.0)
    assert schedule.next_poll(10.0).wake_at == 42.0
    assert schedule.next_poll(42.0).workspace == "a"


def test_a_workspace_set_aside_is_checked_again_after_its_time_only() -> None:
    schedule = fleet(poll_interval=10)
    schedule.add("bad", 0.0)
    schedule.add("good", 0.0)
    assert schedule.next_poll(0.0).workspace == "bad"
    schedule.set_aside("bad", until=600.0)
    assert schedule.set_aside_until("bad") == 600.0 and schedule.polling == 0
    polled = []
    for now in range(0, 600, 5):
        while (name := schedule.next_poll(float(now)).workspace) is not None:
            polled.append(name)
            schedule.finish(name, pages=1)
    assert set(polled) == {"good"} and len(polled) == 60
    assert schedule.next_poll(600.0).workspace == "bad"
    schedule.finish("bad", pages=1)  # it answered: back in the rotation
    assert schedule.set_aside_until("bad") is None


def test_the_tokens_share_is_taken_in_order_without_bursts() -> None:
    schedule = fleet()
    assert [round(schedule.token_slot(0.0), 3) for _ in range(4)] == [0.0, 0.04, 0.08, 0.12]
    assert schedule.token_slot(10.0) == 0.0  # an idle share does not bank a burst


def test_a_page_that_must_wait_for_its_workspace_reserves_nothing() -> None:
    schedule = fleet(share=0.1)  # two Slack calls a minute per workspace
    schedule.add("a", 0.0)
    schedule.add("b", 0.0)
    assert schedule.page_slot("a", 0.0) == (0.0, True)
    assert schedule.page_slot("a", 1.0)[1] is True
    wait, reserved = schedule.page_slot("a", 2.0)
    assert not reserved and wait == pytest.approx(58.0, abs=0.01)
    # b's page takes the token's next slot at once: a did not hold it while waiting.
    assert schedule.page_slot("b", 2.0) == (0.0, True)


# -- the pieces ----------------------------------------------------------------------------------------------


def test_a_window_says_when_there_is_room_for_one_or_a_whole_poll() -> None:
    window = Window(3, 60.0)
    assert window.room_at(0.0, 3) == 0.0
    for at in (0.0, 10.0, 20.0):
        window.record(at)
    assert window.room_at(25.0) == pytest.approx(60.0, abs=0.01)  # the first send must leave
    assert window.room_at(25.0, 2) == pytest.approx(70.0, abs=0.01)
    assert window.room_at(25.0, 9) == pytest.approx(
        80.0, abs=0.01
    )  # more than the window holds: all three must leave
    assert window.room_at(100.0) == 100.0


def test_slacks_list_tier_is_20_a_minute_and_the_shares_whole_calls() -> None:
    assert RateLimit(20, 60.0) == SLACK_LIST_RATE_LIMIT
    budgets = FleetBudgets(token=TRUTO_TOKEN, account=TRUTO_ACCOUNT)
    assert budgets.calls(SLACK_LIST_RATE_LIMIT) == 10 and budgets.calls(TRUTO_ACCOUNT) == 25
    assert FleetBudgets(token=None, account=None, share=0.01).calls(SLACK_LIST_RATE_LIMIT) == 1
    assert budgets.token_interval == pytest.approx(0.04)


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"share": 0}, "share"),
        ({"share": 1.5}, "share"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"poll_interval": math.inf}, "poll_interval"),
        ({"max_concurrent_polls": 0}, "max_concurrent_polls"),
    ],
)
def test_budgets_out_of_range_are_refused(settings: dict[str, float], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        FleetBudgets(token=None, account=None, **settings)  # type: ignore[arg-type]
