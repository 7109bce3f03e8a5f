"""TrutoNewChannelsSensor (airflow_provider_truto/sensors/truto.py) run by hand on the sandbox: poking,
deferring to the trigger and resuming from its event (or its error), the policy it hands on, bad input."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import tracemalloc
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_truto.exceptions import (
    TrutoAuthError,
    TrutoInputError,
    TrutoInvalidResponseError,
    TrutoNotFoundError,
)
from airflow_provider_truto.sensors.truto import TrutoNewChannelsSensor
from airflow_provider_truto.testing import TrutoSandbox
from airflow_provider_truto.triggers.truto import TrutoNewChannelsTrigger
from tests.support.helpers import (
    ACCOUNT,
    CHANNELS,
    CUTOFF,
    TOKEN,
    AirflowFailException,
    TaskDeferred,
    connection_json,
    created_at,
    hostile_connection,
    new_channel,
    public_channel,
    task_context,
    trigger_events,
)
from tests.support.hostile_servers import (
    UNREADABLE_CREATED_AT,
    ChannelList,
    HostileServer,
    endless_list,
    padded_list,
)


def sensor(**kwargs: Any) -> TrutoNewChannelsSensor:
    return TrutoNewChannelsSensor(task_id="wait", **{"created_after": CUTOFF.isoformat(), **kwargs})


def test_poke_is_not_done_until_joinable_channels_appear_then_returns_them(conn: TrutoSandbox) -> None:
    new_channel(conn, "private", 1, type="private_channel")
    wait = sensor(limit=7)
    assert not wait.poke({}).is_done

    later, earlier = new_channel(conn, "later", 20), new_channel(conn, "earlier", 10)
    done = wait.poke({})
    assert done.is_done
    assert done.xcom_value == [
        {
            "id": earlier,
            "name": "earlier",
            "created_at": done.xcom_value[0]["created_at"],
            "integrated_account_id": ACCOUNT,
        },
        {
            "id": later,
            "name": "later",
            "created_at": done.xcom_value[1]["created_at"],
            "integrated_account_id": ACCOUNT,
        },
    ]
    # Every page was read, each poke from the first page on, with Slack narrowing the list to public
    # channels that are not archived (the two new ones came after the first poke).
    public = sum(1 for c in conn.channels(ACCOUNT) if c["type"] == "channel")
    pages = [r for r in conn.requests if r.path == CHANNELS]
    assert len(pages) == math.ceil((public - 2) / 7) + math.ceil(public / 7)
    assert all(
        r.query["limit"] == ["7"]
        and r.query["remote_query[types]"] == ["public_channel"]
        and r.query["remote_query[exclude_archived]"] == ["true"]
        for r in pages
    )
    assert TOKEN not in json.dumps(done.xcom_value)


def test_poke_mode_execute_returns_the_channels_for_xcom(conn: TrutoSandbox) -> None:
    wanted = new_channel(conn, "wanted", 1)
    assert [c["id"] for c in sensor(poke_interval=0.1, timeout=5).execute({})] == [wanted]


def test_created_after_none_means_any_time(conn: TrutoSandbox) -> None:
    backlog = {
        c["id"]
        for c in conn.channels(ACCOUNT)
        if c["type"] == "channel" and c["status"] == "active" and not c["is_member"]
    }
    done = sensor(created_after=None).poke({})
    assert {c["id"] for c in done.xcom_value} == backlog and backlog


def test_poke_waits_through_transient_errors_but_fails_on_permanent_ones(
    sandbox: TrutoSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_TRUTO_DEFAULT", connection_json(sandbox, max_retries=0))
    new_channel(sandbox, "wanted", 1)
    sandbox.inject("GET", CHANNELS, 500)
    assert not sensor().poke({}).is_done  # "not yet": the next poke tries again

    monkeypatch.setenv("AIRFLOW_CONN_TRUTO_DEFAULT", connection_json(sandbox).replace(TOKEN, "wrong"))
    with pytest.raises(TrutoAuthError) as caught:
        sensor().poke({})
    assert isinstance(caught.value, AirflowFailException) and "wrong" not in str(caught.value)


def test_an_endless_list_fails_the_sensors_poke(monkeypatch: pytest.MonkeyPatch) -> None:
    with HostileServer(endless_list()) as server:
        hostile_connection(monkeypatch, server.url, page_cap=20)
        sensor = TrutoNewChannelsSensor(task_id="s", truto_conn_id="hostile")
        with pytest.raises(TrutoInvalidResponseError, match="page_cap"):
            sensor.poke({})  # type: ignore[arg-type]


def test_unreadable_creation_times_are_left_out_with_a_warning(
    channel_list: ChannelList, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each odd created_at is that channel's problem: the poke still returns the good channel."""
    channel_list.channels = [
        *(
            {**public_channel(f"odd-{name}"), "id": f"ODD-{name}", "created_at": value}
            for name, value in UNREADABLE_CREATED_AT.items()
        ),
        {**public_channel("undated", created_at=None), "id": "UNDATED"},
        {**public_channel("good", created_at=created_at(5)), "id": "GOOD"},
    ]
    with caplog.at_level(logging.INFO):
        done = sensor().poke({})
    assert done.is_done and [c["id"] for c in done.xcom_value] == ["GOOD"]
    logged = caplog.text + capsys.readouterr().out
    assert f"left out: {len(UNREADABLE_CREATED_AT)} unreadable created_at, 1 no created_at" in logged
    assert all(f"(ODD-{name}) left out: its created_at" in logged for name in UNREADABLE_CREATED_AT)


def test_a_poke_reads_a_long_list_holding_one_page_not_the_list(monkeypatch: pytest.MonkeyPatch) -> None:
    # 20 pages of 1,000 channels, about 30 MB as JSON: a poke that listed them all (issue 21) held every
    # decoded page at once; read page by page, a page is all it holds.
    with HostileServer(padded_list(20, 1000)) as server:
        hostile_connection(monkeypatch, server.url)
        waiting = TrutoNewChannelsSensor(task_id="s", truto_conn_id="hostile", max_channels=10)
        tracemalloc.start()
        try:
            done = waiting.poke({})  # type: ignore[arg-type]
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert len(done.xcom_value) == 10 and len(server.requests) == 20
    assert peak < 25_000_000, f"{peak / 1e6:.0f} MB"


def test_deferrable_sensor_defers_to_the_trigger_and_resumes_with_its_channels(conn: TrutoSandbox) -> None:
    wait = sensor(deferrable=True, poke_interval=0.05, timeout=600, integrated_account_id=ACCOUNT)
    with pytest.raises(TaskDeferred) as deferred:
        wait.execute(task_context())
    trigger = deferred.value.trigger
    assert isinstance(trigger, TrutoNewChannelsTrigger)
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout == timedelta(seconds=600)
    _, kwargs = trigger.serialize()
    assert kwargs["created_after"] == CUTOFF.isoformat().replace("+00:00", "Z")
    assert (kwargs["poll_interval"], kwargs["integrated_account_id"]) == (0.05, ACCOUNT)

    # The triggerer re-creates the trigger from its kwargs; channels appear while it waits.
    wanted = new_channel(conn, "wanted", 1)

    async def first_event() -> dict[str, Any]:
        events = TrutoNewChannelsTrigger(**kwargs).run()
        try:
            return (await anext(events)).payload  # type: ignore[no-any-return]
        finally:
            await events.aclose()

    payload = asyncio.run(first_event())
    channels = wait.execute_complete(task_context(), event=payload)
    assert [c["id"] for c in channels] == [wanted]


def test_deferrable_sensor_returns_at_once_when_channels_are_already_there(conn: TrutoSandbox) -> None:
    wanted = new_channel(conn, "wanted", 1)
    assert [c["id"] for c in sensor(deferrable=True).execute(task_context())] == [wanted]


def test_a_deferring_sensor_hands_its_policy_to_the_trigger(channel_list: ChannelList) -> None:
    channel_list.channels = [{**public_channel("social-x"), "id": "C1"}]  # not included: nothing yet
    wait = TrutoNewChannelsSensor(task_id="wait", include=["eng-*"], exclude="eng-old-*", deferrable=True)
    ti = SimpleNamespace(dag_id="d", run_id="r", task_id="wait", map_index=-1)
    with pytest.raises(TaskDeferred) as deferred:
        wait.execute({"ti": ti})  # type: ignore[arg-type]
    _, kwargs = deferred.value.trigger.serialize()
    assert (kwargs["include"], kwargs["exclude"], kwargs["include_shared"]) == (
        ["eng-*"],
        ["eng-old-*"],
        False,
    )


def test_a_policy_list_param_rendered_as_text_is_read_back(channel_list: ChannelList) -> None:
    """``include="{{ params.include }}"`` renders to the list's text: the sensor reads the list back."""
    channel_list.channels = [{**public_channel("social-x"), "id": "C1"}]
    wait = TrutoNewChannelsSensor(task_id="wait", deferrable=True)
    wait.include, wait.exclude = "['eng-*', 'ops-*']", '["eng-old-*"]'  # as Airflow renders them
    ti = SimpleNamespace(dag_id="d", run_id="r", task_id="wait", map_index=-1)
    with pytest.raises(TaskDeferred) as deferred:
        wait.execute({"ti": ti})  # type: ignore[arg-type]
    _, kwargs = deferred.value.trigger.serialize()
    assert (kwargs["include"], kwargs["exclude"]) == (["eng-*", "ops-*"], ["eng-old-*"])
    wait.include = "[a-m]*"  # a glob that starts with a bracket stays one pattern
    with pytest.raises(TaskDeferred) as deferred:
        wait.execute({"ti": ti})  # type: ignore[arg-type]
    assert deferred.value.trigger.serialize()[1]["include"] == ["[a-m]*"]


def test_an_error_event_raises_the_typed_error() -> None:
    event = {
        "status": "error",
        "message": "GET /x: Invalid API token",
        "error_type": "TrutoAuthError",
        "status_code": 401,
    }
    with pytest.raises(TrutoAuthError, match="Invalid API token"):
        sensor(deferrable=True).execute_complete({}, event=event)


def test_a_connection_missing_on_the_triggerer_is_reported_as_missing() -> None:
    [payload] = asyncio.run(
        trigger_events(TrutoNewChannelsTrigger(truto_conn_id="no_such_conn"), 1, timeout=5)
    )
    assert payload["status_code"] is None
    sensor = TrutoNewChannelsSensor(task_id="s", truto_conn_id="no_such_conn", deferrable=True)
    with pytest.raises(TrutoInputError) as caught:
        sensor.execute_complete({}, payload)  # type: ignore[arg-type]
    assert caught.value.argument == "truto_conn_id" and "no_such_conn" in str(caught.value)
    assert "missing" in str(caught.value) and not isinstance(caught.value, TrutoNotFoundError)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"created_after": "yesterday"}, "created_after"),
        ({"integrated_account_id": "   "}, "integrated_account_id"),
        ({"integrated_account_id": 42}, "integrated_account_id"),
    ],
)
def test_sensor_bad_input_is_named_before_any_request(
    conn: TrutoSandbox, kwargs: dict[str, Any], argument: str
) -> None:
    for deferrable in (False, True):
        with pytest.raises(TrutoInputError) as caught:
            sensor(deferrable=deferrable, **kwargs).execute(task_context())
        assert caught.value.argument == argument
    assert conn.requests == []


def test_sensor_constructor_checks() -> None:
    for kwargs, argument in (({"limit": 0}, "limit"), ({"max_channels": 0}, "max_channels")):
        with pytest.raises(TrutoInputError) as caught:
            sensor(**kwargs)
        assert caught.value.argument == argument
    assert TrutoNewChannelsSensor.template_fields == (
        "integrated_account_id",
        "created_after",
        "include",
        "exclude",
    )
