"""TrutoNewChannelsTrigger watching a fleet of workspaces, over real sockets to the sandbox: each new channel
once across workspaces, per-workspace policies, workspaces connected and disconnected while it runs, one
workspace's lasting failure set aside while the others go on, Slack's list tier, pages smaller than
asked, restarts from the state store, and memory that does not grow with the list."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import tracemalloc
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_truto.auto_join.fleet import watch_state_key
from airflow_provider_truto.client.async_client import AsyncTrutoClient
from airflow_provider_truto.client.config import TrutoConfig
from airflow_provider_truto.hooks.metrics import WATCHER_CYCLE, WATCHER_LATENCY, AirflowMetrics
from airflow_provider_truto.testing import TrutoSandbox
from airflow_provider_truto.testing.timeline import NewAccount, NewChannel
from airflow_provider_truto.triggers.fleet_watch import FleetWatch
from airflow_provider_truto.triggers.truto import TrutoNewChannelsTrigger
from tests.support.helpers import CHANNELS, TOKEN, MemoryStateStore, connection_json, public_channel
from tests.support.hostile_servers import UNREADABLE_CREATED_AT, ChannelList, HostileServer, padded_list

WORKSPACES = ["ws-a", "ws-b", "ws-c"]
# Fast enough for a test; Slack's tier is the sandbox's to enforce where a test asks for it.
FAST: dict[str, Any] = {"poll_interval": 0.05, "slack_list_rate_limit": "off", "discovery_interval": 0.2}


class Watch:
    """A trigger run as the triggerer runs it, its events collected (with their arrival) as they come."""

    def __init__(self, trigger: TrutoNewChannelsTrigger) -> None:
        self.trigger = trigger
        self.payloads: list[dict[str, Any]] = []
        self.arrived: list[float] = []
        self._events: AsyncIterator[Any] = trigger.run()  # type: ignore[assignment]
        self._task = asyncio.get_running_loop().create_task(self._consume())
        self.ended = False

    async def _consume(self) -> None:
        async for event in self._events:
            self.payloads.append(event.payload)
            self.arrived.append(time.monotonic())

    async def until(self, done: Callable[[Watch], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not done(self):
            if self._task.done() or time.monotonic() > deadline:
                return
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        self.ended = self._task.done()  # by itself, before being stopped
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self._events.aclose()  # type: ignore[attr-defined]

    def reported(self, account: str | None = None) -> Counter[str]:
        return Counter(
            c["id"]
            for p in self.payloads
            if p["status"] == "success"
            for c in p["channels"]
            if account is None or c["integrated_account_id"] == account
        )

    def errors(self) -> list[dict[str, Any]]:
        return [p for p in self.payloads if p["status"] == "error"]


def fleet_sandbox(
    factory: Callable[..., TrutoSandbox], monkeypatch: pytest.MonkeyPatch, **options: Any
) -> TrutoSandbox:
    sandbox = factory(token=TOKEN, **options)
    for seed, account in enumerate(WORKSPACES):
        sandbox.add_account(account)
        sandbox.seed_channels(account, 40, seed=seed)
    monkeypatch.setenv("AIRFLOW_CONN_TRUTO_DEFAULT", connection_json(sandbox))
    return sandbox


def ago(seconds: float = 0) -> datetime:
    return datetime.now(timezone.utc) - timedelta(seconds=seconds)


def add(sandbox: TrutoSandbox, account: str, name: str, **fields: Any) -> str:
    return str(sandbox.add_channel(account, name=name, **fields)["id"])


@pytest.fixture
def fleet(
    truto_sandbox_factory: Callable[..., TrutoSandbox], monkeypatch: pytest.MonkeyPatch
) -> TrutoSandbox:
    return fleet_sandbox(truto_sandbox_factory, monkeypatch)


# -- each new channel once, per workspace --------------------------------------------------------------------


def test_one_trigger_reports_every_workspaces_new_channels_each_once(fleet: TrutoSandbox) -> None:
    async def scenario() -> Watch:
        watch = Watch(
            TrutoNewChannelsTrigger(integrated_account_ids=WORKSPACES, created_after=ago(1), **FAST)
        )
        created = {
            account: [add(fleet, account, f"new-{account}-{n}") for n in range(3)] for account in WORKSPACES
        }
        await watch.until(lambda w: len(w.reported()) >= 9)
        # More while it runs, then a few more polls: nothing comes twice.
        created["ws-b"].append(add(fleet, "ws-b", "later-b"))
        await watch.until(lambda w: len(w.reported()) >= 10)
        await asyncio.sleep(0.5)
        await watch.stop()
        watch.created = created  # type: ignore[attr-defined]
        return watch

    watch = asyncio.run(scenario())
    created: dict[str, list[str]] = watch.created  # type: ignore[attr-defined]
    for account in WORKSPACES:
        assert watch.reported(account) == Counter(dict.fromkeys(created[account], 1)), account
    for payload in watch.payloads:  # today's payload: one workspace per event, each channel naming it
        assert set(payload) == {"status", "integrated_account_id", "watermark", "channels"}
        assert {c["integrated_account_id"] for c in payload["channels"]} == {payload["integrated_account_id"]}
        assert all(
            set(c) == {"id", "name", "created_at", "integrated_account_id"} for c in payload["channels"]
        )
    assert not watch.errors()


def test_each_workspace_has_its_own_policy(fleet: TrutoSandbox) -> None:
    async def scenario() -> Watch:
        trigger = TrutoNewChannelsTrigger(
            integrated_account_ids=WORKSPACES,
            created_after=ago(1),
            exclude=["secret-*"],
            account_policies={"ws-a": {"include": ["eng-*"]}, "ws-b": {"exclude": []}},
            **FAST,
        )
        watch = Watch(trigger)
        for account in WORKSPACES:
            for name in ("eng-x", "secret-y", "sales-z"):
                add(fleet, account, f"{name}-{account}")
        await watch.until(lambda w: len(w.reported()) >= 6)
        await asyncio.sleep(0.3)
        await watch.stop()
        return watch

    watch = asyncio.run(scenario())
    names = {
        account: sorted(
            c["name"].split("-")[0]
            for p in watch.payloads
            for c in p["channels"]
            if c["integrated_account_id"] == account
        )
        for account in WORKSPACES
    }
    # ws-a: only eng-*, and the trigger's exclude still holds; ws-b: its own exclude (none); ws-c: the
    # trigger's policy.
    assert names == {"ws-a": ["eng"], "ws-b": ["eng", "sales", "secret"], "ws-c": ["eng", "sales"]}


def test_pages_smaller_than_asked_are_all_read(
    truto_sandbox_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = fleet_sandbox(truto_sandbox_factory, monkeypatch, max_page_size=7)

    async def scenario() -> Watch:
        watch = Watch(TrutoNewChannelsTrigger(integrated_account_ids=WORKSPACES, created_after=None, **FAST))
        await watch.until(lambda w: len({p["integrated_account_id"] for p in w.payloads}) == 3)
        await watch.stop()
        return watch

    watch = asyncio.run(scenario())
    for account in WORKSPACES:
        backlog = {
            c["id"]
            for c in sandbox.channels(account)
            if c["type"] == "channel" and c["status"] == "active" and not c["is_member"]
        }
        assert set(watch.reported(account)) == backlog and len(backlog) > 7
    pages = [r for r in sandbox.requests if r.path == CHANNELS]
    assert all(r.query["limit"] == ["1000"] for r in pages) and len(pages) >= 3 * 3


# -- workspaces coming and going -----------------------------------------------------------------------------


def test_all_watches_a_workspace_connected_while_it_runs_and_drops_one_disconnected(
    fleet: TrutoSandbox,
) -> None:
    async def scenario() -> tuple[Watch, float, list[str]]:
        watch = Watch(TrutoNewChannelsTrigger(integrated_account_ids="all", created_after=ago(1), **FAST))
        await asyncio.sleep(0.5)  # it has read the account list, and polled
        timeline = fleet.play(
            [
                NewAccount(at=0.0, account_id="ws-late", channels=30, seed=9),
                NewChannel(at=0.1, account_id="ws-late", id="CLATE00001", name="late-one"),
            ]
        )
        connected = time.monotonic()
        await watch.until(lambda w: "CLATE00001" in w.reported())
        timeline.wait(5)
        # ws-c needs re-authorising: dropped by the next read of the account list, and said once.
        fleet.accounts[2].status = "needs_reauth"
        await watch.until(lambda w: bool(w.errors()))
        await asyncio.sleep(0.6)  # a few more reads of the account list: no second event
        gone = add(fleet, "ws-c", "while-away")
        fleet.accounts[2].status = "active"
        await watch.until(lambda w: gone in w.reported())
        await watch.stop()
        return watch, connected, [gone]

    watch, connected, _ = asyncio.run(scenario())
    arrivals = zip(watch.arrived, watch.payloads, strict=True)
    late = [at for at, p in arrivals if p.get("integrated_account_id") == "ws-late"]
    assert watch.reported("ws-late") == Counter({"CLATE00001": 1})  # its 30 older channels: not new
    assert late and late[0] - connected < 2.0
    [error] = watch.errors()
    assert error["integrated_account_id"] == "ws-c" and "needs_reauth" in error["message"]
    assert not watch.ended  # one workspace's trouble never ends the watch


def test_a_workspace_that_fails_for_good_is_set_aside_reported_once_and_checked_again(
    fleet: TrutoSandbox,
) -> None:
    created: dict[str, str] = {}

    async def scenario() -> Watch:
        trigger = TrutoNewChannelsTrigger(
            integrated_account_ids=WORKSPACES, created_after=ago(1), recheck_interval=0.8, **FAST
        )
        blocked = fleet.accounts[1]
        blocked.blocked = True  # Truto answers 503: no retry mends it
        watch = Watch(trigger)
        created["ws-a"] = add(fleet, "ws-a", "first-a")
        await watch.until(lambda w: bool(w.errors()) and created["ws-a"] in w.reported())
        created["ws-c"] = add(fleet, "ws-c", "meanwhile-c")
        await asyncio.sleep(1.0)  # checked again at least once, still blocked: no second event
        blocked.blocked = False
        created["ws-b"] = add(fleet, "ws-b", "back-b")
        await watch.until(lambda w: created["ws-b"] in w.reported(), timeout=5)
        await watch.stop()
        return watch

    watch = asyncio.run(scenario())
    [error] = watch.errors()
    assert error["integrated_account_id"] == "ws-b" and error["error_type"] == "TrutoAccountBlockedError"
    assert error["status_code"] == 503 and datetime.fromisoformat(
        error["set_aside_until"].replace("Z", "+00:00")
    )
    for account in WORKSPACES:  # the others went on; ws-b is back, and its channel came once
        assert watch.reported(account) == Counter({created[account]: 1}), account
    assert not watch.ended
    blocked_polls = [r for r in fleet.requests if r.query.get("integrated_account_id") == ["ws-b"]]
    assert 2 <= len(blocked_polls) <= 6  # rechecked every 0.8 s, not at every 0.05 s turn


def test_a_poll_failing_for_now_is_polled_again_at_its_turn_with_the_rest(
    fleet: TrutoSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No client retries: each injected 5xx fails a whole poll, as one does after every retry was spent.
    monkeypatch.setenv("AIRFLOW_CONN_TRUTO_DEFAULT", connection_json(fleet, max_retries=0))
    fleet.inject("GET", CHANNELS, 500, 502, 504)

    async def scenario() -> tuple[Watch, dict[str, str]]:
        watch = Watch(
            TrutoNewChannelsTrigger(integrated_account_ids=WORKSPACES, created_after=ago(1), **FAST)
        )
        created = {account: add(fleet, account, f"despite-{account}") for account in WORKSPACES}
        await watch.until(lambda w: set(created.values()) <= set(w.reported()))
        await asyncio.sleep(0.3)
        await watch.stop()
        return watch, created

    watch, created = asyncio.run(scenario())
    failed = [r for r in fleet.requests if r.path == CHANNELS and r.status >= 500]
    assert len(failed) == 3  # three polls failed, of one workspace or several
    for account in WORKSPACES:
        assert watch.reported(account) == Counter({created[account]: 1}), account
    assert not watch.errors() and not watch.ended  # no event, nothing set aside, the watch goes on


def test_a_token_truto_refuses_ends_the_fleet_watch_with_one_error(
    fleet: TrutoSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_TRUTO_DEFAULT",
        json.dumps({**json.loads(connection_json(fleet)), "password": "wrong-token-0123"}),
    )

    async def scenario() -> Watch:
        watch = Watch(TrutoNewChannelsTrigger(integrated_account_ids=WORKSPACES, **FAST))
        await watch.until(lambda w: w._task.done(), timeout=5)
        await watch.stop()
        return watch

    watch = asyncio.run(scenario())
    [error] = watch.payloads
    assert error["status"] == "error" and error["status_code"] == 401 and error["is_remote_error"] is False
    assert "wrong-token-0123" not in json.dumps(error)


# -- Slack's list tier ---------------------------------------------------------------------------------------


def test_with_slacks_tier_on_the_watch_keeps_to_its_half_and_meets_no_429(
    truto_sandbox_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Slack's tier shrunk to 20 calls in 6 s, so that seconds show what a minute would: the watch takes
    # half (10 in 6 s), each poll one page, evenly spaced, whatever its poll_interval asks.
    sandbox = fleet_sandbox(truto_sandbox_factory, monkeypatch, slack_list_rate_limit=(20, 6.0))

    async def scenario() -> Watch:
        trigger = TrutoNewChannelsTrigger(
            integrated_account_ids=WORKSPACES,
            created_after=ago(1),
            poll_interval=0.05,
            slack_list_rate_limit="20/6",
        )
        watch = Watch(trigger)
        await asyncio.sleep(1.0)
        fresh = [add(sandbox, account, f"fresh-{account}") for account in WORKSPACES]
        await watch.until(lambda w: set(fresh) <= set(w.reported()))
        await asyncio.sleep(2.0)
        await watch.stop()
        return watch

    watch = asyncio.run(scenario())
    lists = [r for r in sandbox.requests if r.path == CHANNELS]
    assert all(r.status == 200 for r in lists)
    for account in WORKSPACES:
        times = [r.at for r in lists if r.query["integrated_account_id"] == [account]]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        # Spaced by 6 s / 10 calls = 0.6 s, not 0.05 s. Measured at the server, one send delayed (the
        # first, while the client connects; any, on a busy machine) shortens the gap after it: so the
        # calls over their span keep to the half, and no gap comes near the poll interval.
        assert len(times) >= 4 and min(gaps) >= 0.3
        assert len(times) - 1 <= (times[-1] - times[0]) / 0.6 + 1
    assert len(watch.reported()) == 3


def test_slacks_429_passed_through_is_waited_out_and_nothing_is_lost(
    truto_sandbox_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The watch believes Slack allows far more than it does (another app shares the tier): Slack's 429
    # with its Retry-After is retried by the client, and every channel still comes once.
    sandbox = fleet_sandbox(truto_sandbox_factory, monkeypatch, slack_list_rate_limit=(3, 1.0))

    async def scenario() -> Watch:
        watch = Watch(
            TrutoNewChannelsTrigger(integrated_account_ids=WORKSPACES, created_after=ago(1), **FAST)
        )
        await asyncio.sleep(0.5)  # polls every 0.05 s: Slack's 429s have started
        fresh = [add(sandbox, account, f"fresh-{account}-{n}") for account in WORKSPACES for n in range(2)]
        await watch.until(lambda w: set(fresh) <= set(w.reported()), timeout=15)
        await asyncio.sleep(1.5)
        await watch.stop()
        return watch

    watch = asyncio.run(scenario())
    assert sorted(watch.reported().values()) == [1] * 6
    limited = [r for r in sandbox.requests if r.status == 429]
    assert limited and all(r.remote_error for r in limited)
    assert not watch.errors()


# -- clocks and creation times a buggy upstream sends, per workspace -----------------------------------------


def test_a_skewed_clock_or_an_odd_created_at_stays_its_own_workspaces_problem(
    channel_list: ChannelList, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """ws-a lists a channel stamped a day ahead and channels whose created_at cannot be read; ws-b comes
    back from the state store with a watermark a day ahead. Each is reported as the single-workspace watch
    reports it (the skewed channel once, the odd ones never, the watermark never past now), every channel
    created later is still reported, and ws-c never notices."""
    now = datetime.now(timezone.utc)
    tomorrow = now + timedelta(days=1)

    def listed(name: str, when: Any) -> dict[str, Any]:
        return {**public_channel(name), "id": name.upper(), "created_at": when}

    odd = [listed(f"odd-{name}", value) for name, value in UNREADABLE_CREATED_AT.items()]
    channel_list.accounts = {
        "ws-a": [*odd, listed("skewed", tomorrow.isoformat()), listed("a-first", now.isoformat())],
        "ws-b": [listed("b-first", now.isoformat())],
        "ws-c": [listed("c-first", now.isoformat())],
    }
    trigger = TrutoNewChannelsTrigger(integrated_account_ids=WORKSPACES, created_after=ago(60), **FAST)
    store = MemoryStateStore()
    key = watch_state_key(trigger.truto_conn_id, "ws-b", trigger.created_after, trigger.policy)
    store.values[key] = {"watermark": tomorrow.isoformat(), "seen_ids": []}
    trigger.asset_state_store = store  # type: ignore[assignment]

    async def scenario() -> Watch:
        watch = Watch(trigger)
        await watch.until(lambda w: len(w.reported()) >= 4)
        later = datetime.now(timezone.utc).isoformat()
        for account in WORKSPACES:
            channel_list.accounts[account].append(listed(f"{account}-later", later))
        await watch.until(lambda w: len(w.reported()) >= 7)
        await asyncio.sleep(0.3)
        await watch.stop()
        return watch

    watch = asyncio.run(scenario())
    assert watch.reported("ws-a") == Counter({"SKEWED": 1, "A-FIRST": 1, "WS-A-LATER": 1})
    assert watch.reported("ws-b") == Counter({"B-FIRST": 1, "WS-B-LATER": 1})
    assert watch.reported("ws-c") == Counter({"C-FIRST": 1, "WS-C-LATER": 1})
    assert all(
        datetime.fromisoformat(p["watermark"].replace("Z", "+00:00")) <= datetime.now(timezone.utc)
        for p in watch.payloads
    )
    assert not watch.errors() and not watch.ended
    logged = capsys.readouterr().out + caplog.text
    assert "skewed (SKEWED) is stamped" in logged and "ahead of this host's clock" in logged
    assert "of ws-b is ahead of this host's clock; watching from now" in logged
    assert all(f"odd-{name} (ODD-{name.upper()}) left out" in logged for name in UNREADABLE_CREATED_AT)


# -- restarts ------------------------------------------------------------------------------------------------


def test_a_restarted_fleet_watch_resumes_every_workspace_from_the_state_store(fleet: TrutoSandbox) -> None:
    store = MemoryStateStore()
    kwargs = {"integrated_account_ids": WORKSPACES, "created_after": ago(1).isoformat(), **FAST}

    async def run_once(new: dict[str, str]) -> Watch:
        trigger = TrutoNewChannelsTrigger(**kwargs)
        trigger.asset_state_store = store  # type: ignore[attr-defined]
        watch = Watch(trigger)
        await watch.until(lambda w: set(new.values()) <= set(w.reported()))
        await asyncio.sleep(0.3)  # past one poll interval: the states are saved
        await watch.stop()
        return watch

    first_new = {account: add(fleet, account, f"before-{account}") for account in WORKSPACES}
    first = asyncio.run(run_once(first_new))
    second_new = {account: add(fleet, account, f"after-{account}") for account in WORKSPACES}
    second = asyncio.run(run_once(second_new))

    assert sorted(first.reported()) == sorted(first_new.values())
    assert sorted(second.reported()) == sorted(second_new.values())  # nothing from before again
    assert len(store.values) == 3 and all(key.startswith("truto_new_channels:") for key in store.values)


# -- memory --------------------------------------------------------------------------------------------------


def test_reading_a_long_list_holds_one_page_not_the_list(monkeypatch: pytest.MonkeyPatch) -> None:
    # 20 pages of 1,000 channels, about 30 MB as JSON and four times that decoded: holding the list is
    # what grew a trigger by hundreds of megabytes (issue 21); reading page by page holds one.
    with HostileServer(padded_list(20, 1000)) as server:
        monkeypatch.setenv(
            "AIRFLOW_CONN_TRUTO_DEFAULT",
            json.dumps(
                {
                    "conn_type": "truto",
                    "host": server.url,
                    "password": TOKEN,
                    "extra": {
                        "integrated_account_id": "ws-a",
                        "rate_limit": "off",
                        "environment_rate_limit": "off",
                    },
                }
            ),
        )

        async def scenario() -> Watch:
            watch = Watch(TrutoNewChannelsTrigger(created_after=None, max_channels=10, **FAST))
            await watch.until(lambda w: bool(w.payloads), timeout=60)
            await watch.stop()
            return watch

        tracemalloc.start()
        try:
            watch = asyncio.run(scenario())
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert len(watch.payloads[0]["channels"]) == 10 and len(server.requests) >= 20
    assert peak < 25_000_000, f"{peak / 1e6:.0f} MB"


# -- ending --------------------------------------------------------------------------------------------------


def test_the_loops_wait_never_swallows_a_cancellation(fleet: TrutoSandbox) -> None:
    # A watch is stopped by cancelling its tasks, and a cancelled poll wakes the loop as it ends. Had the
    # loop's wait returned on that wake-up instead of raising (asyncio.wait_for does, when both land
    # together), the loop would live on, start a poll, and the watch would never end.
    async def scenario() -> None:
        trigger = TrutoNewChannelsTrigger(integrated_account_ids=WORKSPACES, **FAST)
        async with AsyncTrutoClient(TrutoConfig(token=TOKEN, base_url=fleet.url)) as client:
            watch = FleetWatch(trigger, client)
            sleeping = asyncio.ensure_future(watch._sleep_until_woken(10.0))
            await asyncio.sleep(0)
            watch._wake.set()
            sleeping.cancel()
            with pytest.raises(asyncio.CancelledError):
                await sleeping

    asyncio.run(scenario())


class Stats:
    """Airflow's metrics API as AirflowMetrics sends to it: what it received."""

    def __init__(self) -> None:
        self.timings: list[tuple[str, float]] = []

    def incr(self, name: str, count: int) -> None:
        pass

    def timing(self, name: str, value: timedelta) -> None:
        self.timings.append((name, value.total_seconds()))

    def of(self, name: str) -> list[float]:
        return [seconds for sent, seconds in self.timings if sent == name]


def test_the_watch_times_each_channel_from_creation_to_event_and_each_pass_over_the_fleet(
    fleet: TrutoSandbox,
) -> None:
    stats = Stats()

    async def scenario() -> tuple[list[dict[str, Any]], float]:
        trigger = TrutoNewChannelsTrigger(integrated_account_ids=WORKSPACES, created_after=ago(60), **FAST)
        config = TrutoConfig(
            token=TOKEN,
            base_url=fleet.url,
            account_rate_limit=None,  # passes as fast as the poll interval, not the budgets
            environment_rate_limit=None,
            observer=AirflowMetrics(stats),
        )
        async with AsyncTrutoClient(config) as client:
            events = FleetWatch(trigger, client).events()
            began = time.monotonic()
            created = [add(fleet, account, f"timed-{account}", created_at=ago(5)) for account in WORKSPACES]
            payloads = []
            try:
                while sum(len(p["channels"]) for p in payloads) < len(created):
                    payloads.append(await asyncio.wait_for(anext(events), 10))  # type: ignore[arg-type]
                await asyncio.sleep(0.5)  # a few more passes over the fleet
            finally:
                await events.aclose()  # type: ignore[attr-defined]
            return payloads, time.monotonic() - began

    payloads, watched = asyncio.run(scenario())
    # Each channel, created 5 s before the watch began, is timed once as it is handed over.
    latencies = stats.of(WATCHER_LATENCY)
    assert len(latencies) == sum(len(p["channels"]) for p in payloads) == 3
    assert all(5.0 <= seconds < 5.0 + watched for seconds in latencies)
    # A pass polls all three workspaces once: one after the other, each about a poll interval long (a
    # pass ends with its last poll, whose length varies), together no longer than the watch.
    cycles = stats.of(WATCHER_CYCLE)
    assert len(cycles) >= 3 and all(seconds > 0 for seconds in cycles) and sum(cycles) < watched
    assert sum(cycles[1:]) / len(cycles[1:]) >= 0.8 * FAST["poll_interval"], cycles


def test_a_fleet_triggers_kwargs_are_plain_json_and_rebuild_it() -> None:
    trigger = TrutoNewChannelsTrigger(
        integrated_account_ids="ALL",
        account_policies={"later-workspace": {"exclude": ["x-*"]}},  # kept for an account not seen yet
        budget_share=0.25,
        slack_list_rate_limit="off",
    )
    classpath, kwargs = trigger.serialize()
    assert kwargs["integrated_account_ids"] == "all" and kwargs["budget_share"] == 0.25
    assert kwargs["account_policies"] == {
        "later-workspace": {"include": [], "exclude": ["x-*"], "include_shared": False}
    }
    assert kwargs["slack_list_rate_limit"] == "off"
    rebuilt = TrutoNewChannelsTrigger(**json.loads(json.dumps(kwargs)))
    assert rebuilt.serialize() == (classpath, kwargs)
    assert (
        rebuilt.policy_for("later-workspace").exclude == ("x-*",)
        and rebuilt.policy_for("other").exclude == ()
    )
