"""TrutoNewChannelsTrigger (airflow_provider_truto/triggers/truto.py) run by hand, against the sandbox or
misbehaving servers on 127.0.0.1: which channels it reports, every page, retries and error events, the
watermark across restarts and policy changes, serialisation, and what importing it costs."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import json
import logging
import math
import re
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_truto import __version__
from airflow_provider_truto.auto_join.fleet import watch_state_key
from airflow_provider_truto.auto_join.policy import AutoJoinPolicy
from airflow_provider_truto.auto_join.selection import is_auto_joinable
from airflow_provider_truto.exceptions import (
    TrutoAccountBlockedError,
    TrutoAuthError,
    TrutoConnectionError,
    TrutoInputError,
    TrutoRedirectError,
    error_from_payload,
)
from airflow_provider_truto.testing import Fault, TrutoSandbox
from airflow_provider_truto.triggers.truto import TrutoNewChannelsTrigger
from tests.support.helpers import (
    ACCOUNT,
    AIRFLOW_VERSION,
    CHANNELS,
    CUTOFF,
    REPO,
    TOKEN,
    MemoryStateStore,
    connection_json,
    created_at,
    hostile_connection,
    leaking_lines,
    leaks,
    new_channel,
    public_channel,
    trigger_events,
)
from tests.support.hostile_servers import (
    DEAD,
    UNREADABLE_CREATED_AT,
    ChannelList,
    HostileServer,
    Request,
    channel,
    endless_list,
    flood,
    json_escaped,
    json_reply,
    one_page,
    page,
    redirect_to,
    reply,
    trickle_body,
)

# Slack's list tier is the sandbox's to enforce when a test asks: here the trigger polls as fast as asked.
FAST = {"poll_interval": 0.05, "lookback_seconds": 60.0, "slack_list_rate_limit": "off"}


FAST_TRIGGER = {"truto_conn_id": "hostile", "poll_interval": 0.05, "slack_list_rate_limit": "off"}


def ids(payloads: list[dict[str, Any]]) -> list[str]:
    return [channel["id"] for payload in payloads for channel in payload["channels"]]


def list_requests(sandbox: TrutoSandbox) -> list[Any]:
    return [r for r in sandbox.requests if r.path == CHANNELS]


# -- selection -----------------------------------------------------------------------------------------------


def test_fires_on_matching_channels_only(conn: TrutoSandbox) -> None:
    wanted = new_channel(conn, "wanted", 5)
    new_channel(conn, "private", 6, type="private_channel")
    new_channel(conn, "archived", 7, status="archived")
    new_channel(conn, "member", 8, is_member=True)
    new_channel(conn, "a-dm", 9, type="dm")
    new_channel(conn, "too-old", -3600)
    before = datetime.now(timezone.utc)
    [payload] = asyncio.run(trigger_events(TrutoNewChannelsTrigger(created_after=CUTOFF, **FAST), 1))
    after = datetime.now(timezone.utc)

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
    # Python 3.10's fromisoformat does not read "Z".
    watermark = datetime.fromisoformat(payload["watermark"].replace("Z", "+00:00"))
    # The channel's creation, or the poll's present if that is still to come (CUTOFF is when the tests
    # were collected: a test run early meets a channel created 5 s after it in the future).
    created = datetime.fromisoformat(created_at(5))
    assert watermark == created if created <= before else before <= watermark <= after
    # The same headers as the sync client, the account on every request, nothing else leaked.
    request = list_requests(conn)[0]
    assert request.headers["user-agent"] == f"airflow-provider-truto/{__version__}"
    assert request.headers["accept"] == "application/json"
    assert request.headers["authorization"] == "<redacted>"  # the sandbox checked the bearer token
    assert request.query["integrated_account_id"] == [ACCOUNT] and request.query["limit"] == ["1000"]
    # Slack filters what is never joined; the fields no decision reads stay at Truto's.
    assert request.query["remote_query[types]"] == ["public_channel"]
    assert request.query["remote_query[exclude_archived]"] == ["true"]
    assert request.query["truto_exclude_fields[]"] == [
        "description", "updated_at", "created_by", "workspace", "organization", "group"
    ]  # fmt: skip
    assert TOKEN not in json.dumps(payload)


def test_every_page_is_read_and_the_backlog_counts_without_a_cutoff(conn: TrutoSandbox) -> None:
    conn.empty_pages = True  # Slack-style empty pages with a cursor must not end the walk
    expected = [c["id"] for c in conn.channels(ACCOUNT) if is_auto_joinable(c, None)]
    [payload] = asyncio.run(trigger_events(TrutoNewChannelsTrigger(limit=7, **FAST), 1))

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
    payloads = asyncio.run(
        trigger_events(TrutoNewChannelsTrigger(max_channels=10, **FAST), events + 1, timeout=1)
    )

    reported = ids(payloads)
    assert len(payloads) == events and all(len(p["channels"]) <= 10 for p in payloads)
    assert len(reported) == len(set(reported)) == len(expected) and set(reported) == expected
    created = [c["created_at"] for p in payloads for c in p["channels"]]
    assert created == sorted(created)


def test_trigger_kwargs_carry_the_policy_and_recreate_the_same_trigger() -> None:
    plain = TrutoNewChannelsTrigger(integrated_account_id=ACCOUNT, include=[], exclude=None)
    assert {"include": [], "exclude": [], "include_shared": False}.items() <= plain.serialize()[1].items()
    shared = TrutoNewChannelsTrigger(integrated_account_id=ACCOUNT, include_shared=True)
    classpath, kwargs = shared.serialize()
    assert kwargs["include_shared"] is True and kwargs["include"] == []
    assert TrutoNewChannelsTrigger(**kwargs).serialize() == (classpath, kwargs)
    assert TrutoNewChannelsTrigger.hash(classpath, kwargs) == TrutoNewChannelsTrigger.hash(
        *TrutoNewChannelsTrigger(**kwargs).serialize()
    )


# -- retries and error events --------------------------------------------------------------------------------


def test_429_and_5xx_are_retried_with_the_hooks_policy_and_retry_after(
    conn: TrutoSandbox, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    wanted = new_channel(conn, "wanted", 1)
    conn.inject("GET", CHANNELS, Fault.rate_limited("1"), 500, 502)
    started = time.monotonic()
    [payload] = asyncio.run(trigger_events(TrutoNewChannelsTrigger(created_after=CUTOFF, **FAST), 1))
    elapsed = time.monotonic() - started

    assert ids([payload]) == [wanted]
    assert [r.status for r in list_requests(conn)][:4] == [429, 500, 502, 200]
    assert elapsed >= 1.0  # Retry-After: 1 was waited out before the second attempt
    # Airflow routes the trigger's log through structlog to the console.
    output = capsys.readouterr().out
    retries = [line for line in output.splitlines() if "; retry " in line]
    assert len(retries) == 3 and "retry 1 of 5 in 1.0s" in retries[0] and "HTTP 429" in retries[0]
    # Under the trigger's own logger: structlog (3.1+) prints its name, logging (3.0) records it.
    if AIRFLOW_VERSION >= (3, 1):
        assert all("TrutoNewChannelsTrigger" in line for line in retries), retries
    else:
        loggers = {r.name for r in caplog.records if "; retry " in r.getMessage()}
        assert loggers == {"airflow_provider_truto.triggers.truto.TrutoNewChannelsTrigger"}
    assert TOKEN not in output


def test_a_poll_that_fails_after_all_retries_is_tried_again_next_interval(
    sandbox: TrutoSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_TRUTO_DEFAULT", connection_json(sandbox, max_retries=1))
    wanted = new_channel(sandbox, "wanted", 1)
    sandbox.inject("GET", CHANNELS, 500, Fault.rate_limited("0"), 504)
    [payload] = asyncio.run(trigger_events(TrutoNewChannelsTrigger(created_after=CUTOFF, **FAST), 1))

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
    payloads = asyncio.run(
        trigger_events(TrutoNewChannelsTrigger(created_after=CUTOFF, **FAST), 2, timeout=2)
    )

    [payload] = payloads  # one event, then the trigger ended
    assert payload["status"] == "error" and payload["status_code"] == status
    assert payload["error_type"] == error_type.__name__
    assert len(list_requests(conn)) == 1  # not retried
    assert isinstance(error_from_payload(payload), error_type)
    assert TOKEN not in json.dumps(payload) and "wrong" not in json.dumps(payload)


def test_a_missing_connection_or_account_is_an_error_event(
    sandbox: TrutoSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    [missing] = asyncio.run(trigger_events(TrutoNewChannelsTrigger(truto_conn_id="no_such_conn", **FAST), 1))
    assert missing["status"] == "error" and "no_such_conn" in missing["message"]

    monkeypatch.setenv("AIRFLOW_CONN_TRUTO_DEFAULT", connection_json(sandbox, integrated_account_id=""))
    [no_account] = asyncio.run(trigger_events(TrutoNewChannelsTrigger(**FAST), 1))
    error = error_from_payload(no_account)
    assert isinstance(error, TrutoInputError) and error.argument == "integrated_account_id"
    assert sandbox.requests == []


def test_a_connection_refused_is_retried_then_polled_again(
    sandbox: TrutoSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = json.loads(connection_json(sandbox, max_retries=0))
    dead["host"] = "http://127.0.0.1:9"  # discard port: connection refused
    monkeypatch.setenv("AIRFLOW_CONN_TRUTO_DEFAULT", json.dumps(dead))
    payloads = asyncio.run(trigger_events(TrutoNewChannelsTrigger(**FAST), 1, timeout=0.5))
    assert payloads == []  # transient: no error event, the trigger keeps polling
    assert isinstance(
        error_from_payload({"error_type": "TrutoConnectionError", "message": "x"}), TrutoConnectionError
    )


def test_a_redirect_ends_the_trigger_with_an_error_event(monkeypatch: pytest.MonkeyPatch) -> None:
    with HostileServer(redirect_to("https://elsewhere.test")) as gateway:
        hostile_connection(monkeypatch, gateway.url)
        [payload] = asyncio.run(trigger_events(TrutoNewChannelsTrigger(**FAST_TRIGGER), 2, timeout=2))
    assert payload["status"] == "error" and payload["error_type"] == "TrutoRedirectError"
    assert isinstance(error_from_payload(payload), TrutoRedirectError)
    assert "https://elsewhere.test" in payload["message"] and len(gateway.requests) == 1


@pytest.mark.parametrize(
    ("cursor_of", "match"),
    [
        (lambda n: f"cursor-{n}", "after 20 pages"),
        (lambda n: {"after": n}, "next_cursor that is dict"),
        (lambda n: 7, "next_cursor that is int"),
    ],
)
def test_an_endless_list_or_a_cursor_not_text_ends_the_trigger_with_an_error_event(
    monkeypatch: pytest.MonkeyPatch, cursor_of: Any, match: str
) -> None:
    with HostileServer(endless_list(cursor_of)) as server:
        hostile_connection(monkeypatch, server.url, page_cap=20)
        payloads = asyncio.run(trigger_events(TrutoNewChannelsTrigger(**FAST_TRIGGER), 2, timeout=5))
    [payload] = payloads
    assert payload["error_type"] == "TrutoInvalidResponseError" and match in payload["message"]


def test_the_trigger_cuts_a_trickling_server_off_and_polls_again(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    with HostileServer(trickle_body) as server:
        hostile_connection(monkeypatch, server.url, timeout=0.5)
        assert asyncio.run(trigger_events(TrutoNewChannelsTrigger(**FAST_TRIGGER), 1, timeout=2.5)) == []
    logged = "".join(capfd.readouterr())
    # Each poll gives up after 0.5 s and the next one starts: several in 2.5 s, not one 10 s read.
    assert logged.count("no complete answer within 0.5s") >= 3
    assert len(server.requests) >= 3


def test_the_trigger_refuses_a_huge_answer_with_an_error_event(monkeypatch: pytest.MonkeyPatch) -> None:
    behaviour, holder = flood(20_000_000, announce=False)
    with HostileServer(behaviour) as server:
        holder.append(server)
        hostile_connection(monkeypatch, server.url, max_response_mb=1)
        [payload] = asyncio.run(trigger_events(TrutoNewChannelsTrigger(**FAST_TRIGGER), 2, timeout=5))
    assert (
        payload["error_type"] == "TrutoInvalidResponseError" and "over the cap of 1 MB" in payload["message"]
    )


def test_a_page_of_non_objects_is_an_error_event(monkeypatch: pytest.MonkeyPatch) -> None:
    def junk(request: Request, sock: socket.socket) -> None:
        json_reply(sock, 200, page([channel("C1"), "C2", 3, None], None))

    with HostileServer(junk) as server:
        hostile_connection(monkeypatch, server.url)
        [payload] = asyncio.run(trigger_events(TrutoNewChannelsTrigger(**FAST_TRIGGER), 2, timeout=3))
    assert payload["error_type"] == "TrutoInvalidResponseError" and "holding str" in payload["message"]


def test_an_unusable_rate_limit_directory_is_an_error_event(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    monkeypatch.setenv("TRUTO_RATE_LIMIT_DIR", str(not_a_directory / "sub"))
    # The user's own directory, where pacing falls back to, is unusable too.
    monkeypatch.setattr(tempfile, "tempdir", str(not_a_directory / "tmp"))
    with HostileServer(one_page) as server:
        hostile_connection(monkeypatch, server.url, rate_limit="5/1", environment_rate_limit="5/1")
        [payload] = asyncio.run(trigger_events(TrutoNewChannelsTrigger(**FAST_TRIGGER), 2, timeout=3))
    assert payload["status"] == "error" and "TRUTO_RATE_LIMIT_DIR" in payload["message"]
    assert server.requests == []


def test_no_token_in_the_triggers_log(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """The trigger's poll failures are logged on every poll: a retried 500 echoing the token, a redirect."""
    calls = []

    def flaky(request: Request, sock: socket.socket) -> None:
        calls.append(request)
        if len(calls) <= 3:  # transient, logged and polled again
            reply(sock, 500, f'{{"statusCode": 500, "message": {json_escaped("boom " + TOKEN)}}}')
        else:  # permanent: the error event ends the trigger
            reply(sock, 302, headers={"Location": f"{DEAD}/?t={TOKEN}"})

    with HostileServer(flaky) as server:
        hostile_connection(monkeypatch, server.url, password=TOKEN + "\n")
        caplog.set_level(logging.INFO)  # Airflow's default level (a library's DEBUG trace shows raw headers)
        payloads = asyncio.run(trigger_events(TrutoNewChannelsTrigger(**FAST_TRIGGER), 1, timeout=10))
    printed, recorded = "".join(capfd.readouterr()), caplog.text  # structlog (3.1+) or logging (3.0)
    assert (
        leaking_lines(printed) == [] and leaking_lines(recorded) == [] and leaks(json.dumps(payloads)) == []
    )
    logged = printed if "polling again later" in printed else recorded
    assert logged.count("polling again later") == 3 and "boom ***" in logged
    [payload] = payloads
    assert payload["error_type"] == "TrutoRedirectError" and f"{DEAD}/?t=***" in payload["message"]


# -- arguments and serialisation -----------------------------------------------------------------------------


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
        "include": [],
        "exclude": [],
        "include_shared": False,
        "integrated_account_ids": None,
        "account_policies": {},
        "budget_share": 0.5,
        "discovery_interval": 60.0,
        "recheck_interval": 600.0,
        "slack_list_rate_limit": "20/60",
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
        ({"integrated_account_ids": "everything"}, "integrated_account_ids"),
        ({"integrated_account_ids": ["ok", " "]}, "integrated_account_ids[]"),
        ({"integrated_account_ids": {"a": 1}}, "integrated_account_ids"),
        ({"integrated_account_ids": "all", "integrated_account_id": "a"}, "integrated_account_ids"),
        ({"integrated_account_ids": ["a"], "account_policies": {"b": {"include": "x*"}}}, "account_policies"),
        ({"account_policies": {"a": {"include": 3}}}, "account_policies"),
        ({"budget_share": 0}, "budget_share"),
        ({"budget_share": 1.5}, "budget_share"),
        ({"discovery_interval": 301}, "discovery_interval"),
        ({"recheck_interval": -1}, "recheck_interval"),
        ({"slack_list_rate_limit": "fast"}, "slack_list_rate_limit"),
        ({"slack_list_rate_limit": 20}, "slack_list_rate_limit"),
    ],
)
def test_bad_arguments_are_named_before_any_request(
    conn: TrutoSandbox, kwargs: dict[str, Any], argument: str
) -> None:
    with pytest.raises(TrutoInputError) as caught:
        TrutoNewChannelsTrigger(**kwargs)
    assert caught.value.argument == argument
    assert conn.requests == []


@pytest.mark.parametrize("argument", ["poll_interval", "lookback_seconds"])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_nan_or_infinite_interval_is_refused(argument: str, value: float) -> None:
    with pytest.raises(TrutoInputError) as caught:
        TrutoNewChannelsTrigger(**{argument: value})
    assert caught.value.argument == argument


# -- restarts and the watermark ------------------------------------------------------------------------------


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
        return first, await trigger_events(restarted, 1), restarted

    first, second, restarted = asyncio.run(scenario())
    assert sorted(ids([first])) == sorted(wave_1)
    assert sorted(ids(second)) == sorted(wave_2)
    # A third incarnation has nothing more to say.
    assert (
        asyncio.run(trigger_events(TrutoNewChannelsTrigger(**restarted.serialize()[1]), 1, timeout=0.4)) == []
    )


def test_restart_from_the_original_kwargs_repeats_only_unjoined_channels(
    conn: TrutoSandbox, make_client: Any
) -> None:
    """A triggerer restart without saved state: joined channels never come back, nothing is lost."""
    original = TrutoNewChannelsTrigger(created_after=CUTOFF, **FAST)
    joined, pending = new_channel(conn, "joined", 1), new_channel(conn, "pending", 2)
    [first] = asyncio.run(trigger_events(original, 1))
    assert sorted(ids([first])) == sorted([joined, pending])
    make_client().unified("instant-messaging", "channels", "join", body={"channel": {"id": joined}})
    later = new_channel(conn, "later", 3)

    [again] = asyncio.run(trigger_events(TrutoNewChannelsTrigger(created_after=CUTOFF, **FAST), 1))
    assert sorted(ids([again])) == sorted([pending, later])


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
    [second] = asyncio.run(trigger_events(restarted, 1))
    assert ids([second]) == [wave_2]

    # Another cutoff on the same asset is another watch: it does not inherit this state.
    other = TrutoNewChannelsTrigger(created_after=CUTOFF - timedelta(seconds=1), **FAST)
    other.asset_state_store = store  # type: ignore[assignment]
    [fresh] = asyncio.run(trigger_events(other, 1))
    assert sorted(ids([fresh])) == sorted([*wave_1, wave_2])


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
    [payload] = asyncio.run(trigger_events(watcher(["eng-*", "sales-*"]), 1))
    assert sorted(ids([payload])) == sorted([sales, eng])


# -- clocks and creation times a buggy upstream sends --------------------------------------------------------


def channel_created(sandbox: TrutoSandbox, name: str, ahead: timedelta = timedelta(0)) -> str:
    """Add a channel to ``ACCOUNT`` created now by this host's clock (plus ``ahead``); its id."""
    when = datetime.now(timezone.utc) + ahead
    return str(sandbox.add_channel(ACCOUNT, name=name, created_at=when.isoformat())["id"])


def test_a_channel_stamped_in_the_future_does_not_end_the_watch(
    conn: TrutoSandbox, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """A skewed clock upstream stamps a channel a day ahead: it is reported with a warning, and every
    channel created after it still is, by the trigger and by one re-created from serialize()."""
    started = datetime.now(timezone.utc) - timedelta(seconds=1)
    skewed = channel_created(conn, "skewed-clock", timedelta(days=1))
    first = channel_created(conn, "first")
    later: list[str] = []

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        trigger = TrutoNewChannelsTrigger(created_after=started, **FAST)
        events = trigger.run()
        try:
            reported = (await anext(events)).payload
            kwargs = trigger.serialize()[1]
            later.append(channel_created(conn, "later"))  # created after the poll
            after = (await asyncio.wait_for(anext(events), 10)).payload
        finally:
            await events.aclose()
        [restarted] = await trigger_events(TrutoNewChannelsTrigger(**kwargs), 1)
        return reported, after, restarted

    reported, after, restarted = asyncio.run(scenario())
    assert ids([reported]) == [first, skewed]  # oldest first
    # Python 3.10's fromisoformat does not read "Z".
    assert datetime.fromisoformat(reported["watermark"].replace("Z", "+00:00")) <= datetime.now(timezone.utc)
    assert ids([after]) == later and ids([restarted]) == later
    logged = capsys.readouterr().out + caplog.text
    assert "skewed-clock" in logged and "ahead of this host's clock" in logged


def test_a_future_watermark_from_the_state_store_or_the_kwargs_is_read_as_now(
    conn: TrutoSandbox, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    started = datetime.now(timezone.utc) - timedelta(seconds=1)
    wanted = channel_created(conn, "wanted")
    tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()
    store = MemoryStateStore()
    watcher = TrutoNewChannelsTrigger(created_after=started, **FAST)
    key = watch_state_key(watcher.truto_conn_id, ACCOUNT, watcher.created_after, watcher.policy)
    store.values[key] = {"watermark": tomorrow, "seen_ids": []}
    watcher.asset_state_store = store  # type: ignore[assignment]
    [restored] = asyncio.run(trigger_events(watcher, 1))
    assert ids([restored]) == [wanted]

    given = TrutoNewChannelsTrigger(created_after=started, watermark=tomorrow, **FAST)
    [payload] = asyncio.run(trigger_events(given, 1))
    assert ids([payload]) == [wanted]
    # One warning from each trigger, each naming its own "now"; Airflow 3.0 shows a record both on stdout
    # and to caplog, so the warnings are told apart by what they say, not counted as lines.
    warnings = re.findall(
        r"ahead of this host's clock; watching from now \((\S+)\)", capsys.readouterr().out + caplog.text
    )
    assert len(set(warnings)) == 2


def test_unreadable_creation_times_are_one_channels_problem_not_the_watchs(
    channel_list: ChannelList, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """An epoch in milliseconds, NaN, 1e20, year 1...: each channel is left out with a warning naming it,
    never taken for new, and the trigger keeps watching."""
    odd = [
        {**public_channel(f"odd-{name}"), "id": f"ODD-{name}", "created_at": value}
        for name, value in UNREADABLE_CREATED_AT.items()
    ]
    undated = {**public_channel("undated", created_at=None), "id": "UNDATED"}
    channel_list.channels = [
        *odd,
        undated,
        {**public_channel("good", created_at=created_at(5)), "id": "GOOD"},
    ]

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        events = TrutoNewChannelsTrigger(created_after=CUTOFF, **FAST).run()
        try:
            first = (await asyncio.wait_for(anext(events), 10)).payload
            channel_list.channels.append({**public_channel("next", created_at=created_at(6)), "id": "NEXT"})
            return first, (await asyncio.wait_for(anext(events), 10)).payload
        finally:
            await events.aclose()

    first, second = asyncio.run(scenario())
    assert first["status"] == "success" and ids([first]) == ["GOOD"]
    assert second["status"] == "success" and ids([second]) == ["NEXT"]
    logged = capsys.readouterr().out + caplog.text
    for name in UNREADABLE_CREATED_AT:
        assert f"odd-{name} (ODD-{name}) left out: its created_at" in logged
    assert "undated (UNDATED) left out: it has no created_at" in logged


def test_the_state_key_belongs_to_one_watch() -> None:
    """Another connection, account, cutoff or policy is another watch: its state is kept apart."""
    cutoff = datetime(2026, 5, 1, 12, tzinfo=timezone.utc)
    policy = AutoJoinPolicy()
    key = watch_state_key("truto_default", ACCOUNT, cutoff, policy)
    assert key.startswith("truto_new_channels:")
    assert watch_state_key("truto_default", ACCOUNT, cutoff, AutoJoinPolicy()) == key
    others = [
        watch_state_key("truto_default", ACCOUNT, cutoff, AutoJoinPolicy.build(exclude="random-*")),
        watch_state_key("truto_default", ACCOUNT, None, policy),
        watch_state_key("other", ACCOUNT, cutoff, policy),
        watch_state_key("truto_default", "acct-2", cutoff, policy),
    ]
    assert len({key, *others}) == 5


# -- the module ----------------------------------------------------------------------------------------------


def test_importing_the_trigger_and_sensor_pulls_in_no_http_client() -> None:
    """What a DAG file imports stays light: the clients (requests, httpx's AsyncTrutoClient) come when a
    task or the triggerer runs. (httpx and tenacity are loaded by Airflow's Task SDK already.)"""
    code = (
        "import sys; import airflow_provider_truto.triggers.truto, airflow_provider_truto.sensors.truto, "
        "airflow_provider_truto.operators.unified, airflow_provider_truto.operators.instant_messaging; "
        "print([m for m in ('requests', 'aiohttp', 'airflow_provider_truto.client.sync_client', "
        "'airflow_provider_truto.client.async_client', 'airflow_provider_truto.client.base', "
        "'airflow_provider_truto.hooks.truto') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
