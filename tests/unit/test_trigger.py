"""TrutoNewChannelsTrigger against the sandbox over real HTTP: selection, pages, retries, state, restarts."""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import json
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_truto import __version__
from airflow_provider_truto.channels import is_auto_joinable, select_new_channels
from airflow_provider_truto.exceptions import (
    TrutoAccountBlockedError,
    TrutoAuthError,
    TrutoConnectionError,
    TrutoInputError,
    error_from_payload,
)
from airflow_provider_truto.testing import Fault, TrutoSandbox
from airflow_provider_truto.triggers.truto import TrutoNewChannelsTrigger
from tests.conftest import ACCOUNT, REPO, TOKEN, connection_json

CHANNELS = "/unified/instant-messaging/channels"
# The sandbox fixture seeds 60 channels created over the last two years: all before this cutoff.
CUTOFF = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=1)
FAST = {"poll_interval": 0.05, "lookback_seconds": 60.0}


@pytest.fixture
def conn(sandbox: TrutoSandbox, monkeypatch: pytest.MonkeyPatch) -> TrutoSandbox:
    monkeypatch.setenv("AIRFLOW_CONN_TRUTO_DEFAULT", connection_json(sandbox))
    return sandbox


def at(seconds: float) -> str:
    return (CUTOFF + timedelta(seconds=seconds)).isoformat()


def new_channel(sandbox: TrutoSandbox, name: str, seconds: float, **kwargs: Any) -> str:
    return str(sandbox.add_channel(ACCOUNT, name=name, created_at=at(seconds), **kwargs)["id"])


async def collect(
    trigger: TrutoNewChannelsTrigger, count: int, timeout: float = 10.0
) -> list[dict[str, Any]]:
    """The payloads of the trigger's first ``count`` events (fewer if ``timeout`` passes first)."""
    payloads: list[dict[str, Any]] = []
    events = trigger.run()
    try:
        async with asyncio.timeout(timeout):
            async for event in events:
                payloads.append(event.payload)
                if len(payloads) >= count:
                    break
    except TimeoutError:
        pass
    finally:
        await events.aclose()
    return payloads


def ids(payloads: list[dict[str, Any]]) -> list[str]:
    return [channel["id"] for payload in payloads for channel in payload["channels"]]


def list_requests(sandbox: TrutoSandbox) -> list[Any]:
    return [r for r in sandbox.requests if r.path == CHANNELS]


# -- selection --------------------------------------------------------------------------------------------


def test_fires_on_matching_channels_only(conn: TrutoSandbox) -> None:
    wanted = new_channel(conn, "wanted", 5)
    new_channel(conn, "private", 6, type="private_channel")
    new_channel(conn, "archived", 7, status="archived")
    new_channel(conn, "member", 8, is_member=True)
    new_channel(conn, "a-dm", 9, type="dm")
    new_channel(conn, "too-old", -3600)
    [payload] = asyncio.run(collect(TrutoNewChannelsTrigger(created_after=CUTOFF, **FAST), 1))

    assert payload == {
        "status": "success",
        "integrated_account_id": ACCOUNT,
        "watermark": payload["watermark"],
        "channels": [
            {
                "id": wanted,
                "name": "wanted",
                "created_at": payload["channels"][0]["created_at"],
                "integrated_account_id": ACCOUNT,
            }
        ],
    }
    assert datetime.fromisoformat(payload["watermark"]) == datetime.fromisoformat(at(5))
    # The same headers as the sync client, the account on every request, nothing else leaked.
    request = list_requests(conn)[0]
    assert request.headers["user-agent"] == f"airflow-provider-truto/{__version__}"
    assert request.headers["accept"] == "application/json"
    assert request.headers["authorization"] == "<redacted>"  # the sandbox checked the bearer token
    assert request.query["integrated_account_id"] == [ACCOUNT] and request.query["limit"] == ["100"]
    assert TOKEN not in json.dumps(payload)


def test_every_page_is_read_and_the_backlog_counts_without_a_cutoff(conn: TrutoSandbox) -> None:
    conn.empty_pages = True  # Slack-style empty pages with a cursor must not end the walk
    expected = [c["id"] for c in conn.channels(ACCOUNT) if is_auto_joinable(c, None)]
    [payload] = asyncio.run(collect(TrutoNewChannelsTrigger(limit=7, **FAST), 1))

    assert sorted(ids([payload])) == sorted(expected) and len(expected) > 20
    pages = list_requests(conn)
    assert len(pages) > 60 // 7 + 1 and all(r.query["limit"] == ["7"] for r in pages)
    assert "next_cursor" not in pages[0].query and all("next_cursor" in r.query for r in pages[1:])
    # Oldest first, so a capped event never lets the watermark pass an unreported channel.
    created = [c["created_at"] for c in payload["channels"]]
    assert created == sorted(created)


def test_a_large_backlog_arrives_over_several_events_oldest_first(conn: TrutoSandbox) -> None:
    expected = {c["id"] for c in conn.channels(ACCOUNT) if is_auto_joinable(c, None)}
    events = -(-len(expected) // 10)
    # One event more than needed is waited for: it must not come.
    payloads = asyncio.run(collect(TrutoNewChannelsTrigger(max_channels=10, **FAST), events + 1, timeout=1))

    reported = ids(payloads)
    assert len(payloads) == events and all(len(p["channels"]) <= 10 for p in payloads)
    assert len(reported) == len(set(reported)) == len(expected) and set(reported) == expected
    created = [c["created_at"] for p in payloads for c in p["channels"]]
    assert created == sorted(created)


def test_selection_keeps_same_second_and_late_channels_and_never_repeats() -> None:
    base = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)

    def channel(channel_id: str, seconds: float | None, **extra: Any) -> dict[str, Any]:
        created = None if seconds is None else (base + timedelta(seconds=seconds)).isoformat()
        return {
            "id": channel_id,
            "type": "channel",
            "status": "active",
            "is_member": False,
            "created_at": created,
            **extra,
        }

    first = [channel("A", 0), channel("B", 10), channel("U", None)]
    chosen, watermark, seen = select_new_channels(
        first,
        created_after=None,
        watermark=None,
        seen_ids=(),
        lookback=timedelta(seconds=60),
        max_channels=10,
    )
    assert [c["id"] for c in chosen] == ["U", "A", "B"]  # undated first, then oldest first
    assert watermark == base + timedelta(seconds=10) and seen == ["A", "B", "U"]

    # Next poll: C shares B's second, D was listed late (5 s below the watermark), E is older than the
    # lookback, F is new; A, B and U are not reported again, and the joined B would not be either way.
    second = [
        *first[:1],
        channel("B", 10, is_member=True),
        first[2],
        channel("C", 10),
        channel("D", 5),
        channel("E", -120),
        channel("F", 20),
    ]
    chosen, watermark, seen = select_new_channels(
        second,
        created_after=None,
        watermark=watermark,
        seen_ids=seen,
        lookback=timedelta(seconds=60),
        max_channels=10,
    )
    assert [c["id"] for c in chosen] == ["D", "C", "F"]
    assert watermark == base + timedelta(seconds=20)
    # A (at 0 s) fell below the new floor (20 - 60 s)? No: -40 s < 0 s, so A is still remembered.
    assert seen == ["A", "B", "C", "D", "F", "U"]
    chosen, _, _ = select_new_channels(
        second,
        created_after=None,
        watermark=watermark,
        seen_ids=seen,
        lookback=timedelta(seconds=60),
        max_channels=10,
    )
    assert chosen == []


# -- retries and errors -----------------------------------------------------------------------------------


def test_429_and_5xx_are_retried_with_the_hooks_policy_and_retry_after(
    conn: TrutoSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    wanted = new_channel(conn, "wanted", 1)
    conn.inject("GET", CHANNELS, Fault.rate_limited("1"), 500, 502)
    started = time.monotonic()
    [payload] = asyncio.run(collect(TrutoNewChannelsTrigger(created_after=CUTOFF, **FAST), 1))
    elapsed = time.monotonic() - started

    assert ids([payload]) == [wanted]
    assert [r.status for r in list_requests(conn)][:4] == [429, 500, 502, 200]
    assert elapsed >= 1.0  # Retry-After: 1 was waited out before the second attempt
    # Airflow routes the trigger's log through structlog to the console.
    output = capsys.readouterr().out
    retries = [line for line in output.splitlines() if "; retry " in line]
    assert len(retries) == 3 and "retry 1 of 5 in 1.0s" in retries[0] and "HTTP 429" in retries[0]
    assert TOKEN not in output


def test_a_poll_that_fails_after_all_retries_is_tried_again_next_interval(
    sandbox: TrutoSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_TRUTO_DEFAULT", connection_json(sandbox, max_retries=1))
    wanted = new_channel(sandbox, "wanted", 1)
    sandbox.inject("GET", CHANNELS, 500, Fault.rate_limited("0"), 504)
    [payload] = asyncio.run(collect(TrutoNewChannelsTrigger(created_after=CUTOFF, **FAST), 1))

    assert ids([payload]) == [wanted]
    # Poll 1: 500 then 429 (one retry, as the connection says), gave up; poll 2: 504, then success.
    assert [r.status for r in list_requests(sandbox)] == [500, 429, 504, 200]


@pytest.mark.parametrize(
    ("setup", "error_type", "status"),
    [
        (
            lambda sb, mp: mp.setenv(
                "AIRFLOW_CONN_TRUTO_DEFAULT", connection_json(sb).replace(TOKEN, "wrong")
            ),
            TrutoAuthError,
            401,
        ),
        (lambda sb, mp: sb.inject("GET", CHANNELS, 503), TrutoAccountBlockedError, 503),
    ],
    ids=["bad-token", "blocked-account"],
)
def test_errors_no_retry_mends_fire_an_error_event_at_once(
    conn: TrutoSandbox, monkeypatch: pytest.MonkeyPatch, setup: Any, error_type: type[Exception], status: int
) -> None:
    setup(conn, monkeypatch)
    payloads = asyncio.run(collect(TrutoNewChannelsTrigger(created_after=CUTOFF, **FAST), 2, timeout=2))

    [payload] = payloads  # one event, then the trigger ended
    assert payload["status"] == "error" and payload["status_code"] == status
    assert payload["error_type"] == error_type.__name__
    assert len(list_requests(conn)) == 1  # not retried
    assert isinstance(error_from_payload(payload), error_type)
    assert TOKEN not in json.dumps(payload) and "wrong" not in json.dumps(payload)


def test_a_missing_connection_or_account_is_an_error_event(
    sandbox: TrutoSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    [missing] = asyncio.run(collect(TrutoNewChannelsTrigger(truto_conn_id="no_such_conn", **FAST), 1))
    assert missing["status"] == "error" and "no_such_conn" in missing["message"]

    monkeypatch.setenv("AIRFLOW_CONN_TRUTO_DEFAULT", connection_json(sandbox, integrated_account_id=""))
    [no_account] = asyncio.run(collect(TrutoNewChannelsTrigger(**FAST), 1))
    error = error_from_payload(no_account)
    assert isinstance(error, TrutoInputError) and error.argument == "integrated_account_id"
    assert sandbox.requests == []


def test_a_connection_refused_is_retried_then_polled_again(
    sandbox: TrutoSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = json.loads(connection_json(sandbox, max_retries=0))
    dead["host"] = "http://127.0.0.1:9"  # discard port: connection refused
    monkeypatch.setenv("AIRFLOW_CONN_TRUTO_DEFAULT", json.dumps(dead))
    payloads = asyncio.run(collect(TrutoNewChannelsTrigger(**FAST), 1, timeout=0.5))
    assert payloads == []  # transient: no error event, the trigger keeps polling
    assert isinstance(
        error_from_payload({"error_type": "TrutoConnectionError", "message": "x"}), TrutoConnectionError
    )


# -- serialisation and restarts ---------------------------------------------------------------------------


def test_serialize_round_trip_and_a_stable_watcher_hash() -> None:
    trigger = TrutoNewChannelsTrigger(
        truto_conn_id="truto_other",
        integrated_account_id=ACCOUNT,
        created_after=datetime(2026, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))),
        poll_interval=30,
        limit=50,
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_truto.triggers.truto.TrutoNewChannelsTrigger"
    assert kwargs == {
        "truto_conn_id": "truto_other",
        "integrated_account_id": ACCOUNT,
        "created_after": "2026-05-01T12:00:00Z",
        "poll_interval": 30.0,
        "limit": 50,
        "max_channels": 500,
        "lookback_seconds": 300.0,
        "watermark": None,
        "seen_ids": [],
    }
    json.dumps(kwargs)  # plain JSON: nothing for Airflow's serializer to guess
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    # AssetWatcher identifies a trigger by the hash of its kwargs: equal for equal definitions.
    assert TrutoNewChannelsTrigger.hash(classpath, kwargs) == TrutoNewChannelsTrigger.hash(
        *rebuilt.serialize()
    )


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"created_after": "last tuesday"}, "created_after"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"poll_interval": "60"}, "poll_interval"),
        ({"limit": 0}, "limit"),
        ({"max_channels": True}, "max_channels"),
        ({"lookback_seconds": -1}, "lookback_seconds"),
        ({"integrated_account_id": "  "}, "integrated_account_id"),
        ({"seen_ids": "C1"}, "seen_ids"),
        ({"watermark": "soon"}, "watermark"),
    ],
)
def test_bad_arguments_are_named_before_any_request(
    conn: TrutoSandbox, kwargs: dict[str, Any], argument: str
) -> None:
    with pytest.raises(TrutoInputError) as caught:
        TrutoNewChannelsTrigger(**kwargs)
    assert caught.value.argument == argument
    assert conn.requests == []


def test_restart_mid_poll_from_serialize_loses_and_repeats_nothing(conn: TrutoSandbox) -> None:
    """Run, cancel in the middle of a poll, re-create from serialize(), run again."""
    wave_1 = [new_channel(conn, f"w1-{i}", 10) for i in range(3)]  # three channels in the same second
    wave_2: list[str] = []

    async def scenario() -> tuple[dict[str, Any], list[dict[str, Any]], TrutoNewChannelsTrigger]:
        trigger = TrutoNewChannelsTrigger(created_after=CUTOFF, **FAST)
        events = trigger.run()
        first = (await anext(events)).payload
        # New channels appear, and the next poll hangs: the triggerer stops the trigger in the middle.
        conn.inject("GET", CHANNELS, Fault.delay(3))
        wave_2.append(new_channel(conn, "w2-same-second", 10))  # in the watermark's second, listed late
        wave_2.append(new_channel(conn, "w2-late", 4))  # older than the watermark, listed late
        wave_2.append(new_channel(conn, "w2-new", 30))
        polling = asyncio.ensure_future(anext(events))
        await asyncio.sleep(0.4)
        assert not polling.done()
        polling.cancel()
        with pytest.raises(asyncio.CancelledError):
            await polling
        conn.clear_faults()

        restarted = TrutoNewChannelsTrigger(**trigger.serialize()[1])
        return first, await collect(restarted, 1), restarted

    first, second, restarted = asyncio.run(scenario())
    assert sorted(ids([first])) == sorted(wave_1)
    assert sorted(ids(second)) == sorted(wave_2)
    # A third incarnation has nothing more to say.
    assert asyncio.run(collect(TrutoNewChannelsTrigger(**restarted.serialize()[1]), 1, timeout=0.4)) == []


def test_restart_from_the_original_kwargs_repeats_only_unjoined_channels(
    conn: TrutoSandbox, make_client: Any
) -> None:
    """A triggerer restart without saved state: joined channels never come back, nothing is lost."""
    original = TrutoNewChannelsTrigger(created_after=CUTOFF, **FAST)
    joined, pending = new_channel(conn, "joined", 1), new_channel(conn, "pending", 2)
    [first] = asyncio.run(collect(original, 1))
    assert sorted(ids([first])) == sorted([joined, pending])
    make_client().unified("instant-messaging", "channels", "join", body={"channel": {"id": joined}})
    later = new_channel(conn, "later", 3)

    [again] = asyncio.run(collect(TrutoNewChannelsTrigger(created_after=CUTOFF, **FAST), 1))
    assert sorted(ids([again])) == sorted([pending, later])


class MemoryStateStore:
    """Stands in for Airflow's per-asset state store (``aget`` / ``aset``), which the triggerer injects."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    async def aget(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    async def aset(self, key: str, value: Any) -> None:
        self.values[key] = json.loads(json.dumps(value))


def test_a_watcher_saves_its_watermark_and_resumes_after_a_restart(conn: TrutoSandbox) -> None:
    store = MemoryStateStore()
    wave_1 = [new_channel(conn, "w1-a", 1), new_channel(conn, "w1-b", 1)]

    async def first_life() -> dict[str, Any]:
        trigger = TrutoNewChannelsTrigger(created_after=CUTOFF, **FAST)
        trigger.asset_state_store = store  # type: ignore[assignment]
        events = trigger.run()
        first = (await anext(events)).payload
        # Not saved while the triggerer may not have written the event yet...
        assert store.values == {}
        polling = asyncio.ensure_future(anext(events))
        await asyncio.sleep(0.3)
        # ...but one poll interval later.
        assert store.values
        polling.cancel()
        with pytest.raises(asyncio.CancelledError):
            await polling
        return first

    first = asyncio.run(first_life())
    assert sorted(ids([first])) == sorted(wave_1)
    [saved] = store.values.values()
    assert saved["seen_ids"] == sorted(wave_1)

    wave_2 = new_channel(conn, "w2", 2)
    restarted = TrutoNewChannelsTrigger(created_after=CUTOFF, **FAST)  # the DAG's kwargs, as on a restart
    restarted.asset_state_store = store  # type: ignore[assignment]
    [second] = asyncio.run(collect(restarted, 1))
    assert ids([second]) == [wave_2]

    # Another cutoff on the same asset is another watch: it does not inherit this state.
    other = TrutoNewChannelsTrigger(created_after=CUTOFF - timedelta(seconds=1), **FAST)
    other.asset_state_store = store  # type: ignore[assignment]
    [fresh] = asyncio.run(collect(other, 1))
    assert sorted(ids([fresh])) == sorted([*wave_1, wave_2])


def test_importing_the_trigger_and_sensor_pulls_in_no_http_client() -> None:
    code = (
        "import sys; import airflow_provider_truto.triggers.truto, airflow_provider_truto.sensors.truto, "
        "airflow_provider_truto.operators.unified; "
        "print([m for m in ('requests', 'aiohttp', 'airflow_provider_truto.client', "
        "'airflow_provider_truto.hooks.truto') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_a_watcher_whose_policy_changes_starts_afresh(conn: TrutoSandbox) -> None:
    """The saved state belongs to the policy too: a channel the new policy allows is reported, even one
    older than the old policy's watermark (less the lookback), which a shared state would hide."""
    store = MemoryStateStore()
    sales = new_channel(conn, "sales-old", 1)
    eng = new_channel(conn, "eng-new", 200)  # the eng-only watch's watermark ends up 199 s past sales-old

    def watcher(include: list[str]) -> TrutoNewChannelsTrigger:
        trigger = TrutoNewChannelsTrigger(created_after=CUTOFF, include=include, include_shared=True, **FAST)
        trigger.asset_state_store = store  # type: ignore[assignment]
        return trigger

    async def first_life() -> list[str]:
        events = watcher(["eng-*"]).run()
        try:
            first = (await anext(events)).payload
            polling = asyncio.ensure_future(anext(events))
            await asyncio.sleep(0.3)  # a poll interval later, the watermark is saved
            polling.cancel()
            with pytest.raises(asyncio.CancelledError):
                await polling
            return ids([first])
        finally:
            await events.aclose()

    assert asyncio.run(first_life()) == [eng] and len(store.values) == 1
    [payload] = asyncio.run(collect(watcher(["eng-*", "sales-*"]), 1))
    assert sorted(ids([payload])) == sorted([sales, eng])


def test_the_default_policys_state_key_is_the_one_saved_before_policies_counted() -> None:
    """Watchers with the default policy keep the state they saved before the policy joined the key."""
    trigger = TrutoNewChannelsTrigger(integrated_account_id=ACCOUNT, created_after="2026-05-01T12:00:00Z")
    scope = b"truto_default|acct-1|2026-05-01T12:00:00Z"  # what the key was made of before
    assert trigger._state_key(ACCOUNT) == f"truto_new_channels:{hashlib.sha256(scope).hexdigest()[:16]}"
    narrowed = TrutoNewChannelsTrigger(
        integrated_account_id=ACCOUNT, created_after="2026-05-01T12:00:00Z", exclude="random-*"
    )
    assert narrowed._state_key(ACCOUNT) != trigger._state_key(ACCOUNT)


@pytest.mark.parametrize(
    ("name", "home"),
    [
        ("select_new_channels", "airflow_provider_truto.channels"),
        ("channel_summary", "airflow_provider_truto.channels"),
        ("error_payload", "airflow_provider_truto.exceptions"),
        ("error_from_payload", "airflow_provider_truto.exceptions"),
    ],
)
def test_the_moved_helpers_still_import_from_the_trigger_module_with_a_warning(name: str, home: str) -> None:
    trigger_module = importlib.import_module("airflow_provider_truto.triggers.truto")
    with pytest.warns(DeprecationWarning, match=f"import {name} from {home}"):
        moved = getattr(trigger_module, name)
    assert moved is getattr(importlib.import_module(home), name)
    # ``import *`` finds what it found before the move.
    assert set(trigger_module.__all__) == {
        "TrutoNewChannelsTrigger", "channel_summary", "error_payload", "select_new_channels"
    }  # fmt: skip
