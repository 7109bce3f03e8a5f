"""TrutoNewChannelsSensor (poke and deferrable) and TrutoUnifiedApiOperator against the sandbox."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_truto.compat import AirflowFailException, TaskDeferred
from airflow_provider_truto.exceptions import TrutoAuthError, TrutoInputError, TrutoNotFoundError
from airflow_provider_truto.operators.unified import TrutoUnifiedApiOperator
from airflow_provider_truto.sensors.truto import TrutoNewChannelsSensor
from airflow_provider_truto.testing import TrutoSandbox
from airflow_provider_truto.triggers.truto import TrutoNewChannelsTrigger
from tests.conftest import ACCOUNT, TOKEN, connection_json

CHANNELS = "/unified/instant-messaging/channels"
CUTOFF = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=1)


@pytest.fixture
def conn(sandbox: TrutoSandbox, monkeypatch: pytest.MonkeyPatch) -> TrutoSandbox:
    monkeypatch.setenv("AIRFLOW_CONN_TRUTO_DEFAULT", connection_json(sandbox))
    return sandbox


def new_channel(sandbox: TrutoSandbox, name: str, seconds: float, **kwargs: Any) -> str:
    created = (CUTOFF + timedelta(seconds=seconds)).isoformat()
    return str(sandbox.add_channel(ACCOUNT, name=name, created_at=created, **kwargs)["id"])


def context(map_index: int = -1) -> dict[str, Any]:
    ti = SimpleNamespace(dag_id="d", run_id="manual__1", task_id="t", map_index=map_index)
    return {"ti": ti}


def sensor(**kwargs: Any) -> TrutoNewChannelsSensor:
    return TrutoNewChannelsSensor(task_id="wait", **{"created_after": CUTOFF.isoformat(), **kwargs})


# -- the sensor -------------------------------------------------------------------------------------------


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
    # Every page was read, each poke from the first page on.
    assert len([r for r in conn.requests if r.path == CHANNELS]) == 2 * 9
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


def test_deferrable_sensor_defers_to_the_trigger_and_resumes_with_its_channels(conn: TrutoSandbox) -> None:
    wait = sensor(deferrable=True, poke_interval=0.05, timeout=600, integrated_account_id=ACCOUNT)
    with pytest.raises(TaskDeferred) as deferred:
        wait.execute(context())
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
    channels = wait.execute_complete(context(), event=payload)
    assert [c["id"] for c in channels] == [wanted]


def test_deferrable_sensor_returns_at_once_when_channels_are_already_there(conn: TrutoSandbox) -> None:
    wanted = new_channel(conn, "wanted", 1)
    assert [c["id"] for c in sensor(deferrable=True).execute(context())] == [wanted]


def test_an_error_event_raises_the_typed_error() -> None:
    event = {
        "status": "error",
        "message": "GET /x: Invalid API token",
        "error_type": "TrutoAuthError",
        "status_code": 401,
    }
    with pytest.raises(TrutoAuthError, match="Invalid API token"):
        sensor(deferrable=True).execute_complete({}, event=event)


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
            sensor(deferrable=deferrable, **kwargs).execute(context())
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


# -- the unified operator ---------------------------------------------------------------------------------


def unified(**kwargs: Any) -> TrutoUnifiedApiOperator:
    return TrutoUnifiedApiOperator(
        task_id="call", **{"model": "instant-messaging", "resource": "channels", **kwargs}
    )


def test_list_returns_every_item_of_every_page(conn: TrutoSandbox) -> None:
    conn.empty_pages = True
    items = unified(limit=7).execute(context())
    assert [c["id"] for c in items] == [c["id"] for c in conn.channels(ACCOUNT)] and len(items) == 60
    pages = [r for r in conn.requests if r.path == CHANNELS]
    assert len(pages) > 9 and all(r.query["integrated_account_id"] == [ACCOUNT] for r in pages)


def test_list_stops_after_max_pages(conn: TrutoSandbox) -> None:
    items = unified(limit=10, max_pages=2).execute(context())
    assert [c["id"] for c in items] == [c["id"] for c in conn.channels(ACCOUNT)][:20]
    assert len(conn.requests) == 2


def test_list_query_nested_and_as_json_text(conn: TrutoSandbox) -> None:
    unified(
        query='{"workspace": {"id": "W1"}, "type": ["channel", "dm"], "truto_ignore_remote_data": true}',
        max_pages=1,
    ).execute(context())
    assert conn.requests[0].query == {
        "integrated_account_id": [ACCOUNT],
        "workspace[id]": ["W1"],
        "type[]": ["channel", "dm"],
        "truto_ignore_remote_data": ["true"],
    }


def test_get_returns_the_object(conn: TrutoSandbox) -> None:
    channel = conn.channels(ACCOUNT)[5]
    answer = unified(method="get", resource_id=channel["id"]).execute(context())
    assert answer == channel
    request = conn.requests[0]
    assert (request.method, request.path) == ("GET", f"{CHANNELS}/{channel['id']}")
    assert "idempotency-key" not in request.headers


def test_custom_method_join_with_a_stable_idempotency_key(conn: TrutoSandbox) -> None:
    conn.wrap_custom_method_results = True  # {"result": {...}} is unwrapped
    channel_id = new_channel(conn, "to-join", 1)
    join = unified(method="join", body={"channel": {"id": channel_id}})
    answer = join.execute(context())
    assert answer["id"] == channel_id and answer["is_member"] is True
    # An Airflow retry of the same task instance sends the same key: Truto replays, joins once.
    join.execute(context())
    unified(method="join", body={"channel": {"id": channel_id}}).execute(context(map_index=3))
    posts = [r for r in conn.requests if r.method == "POST"]
    assert [r.path for r in posts] == [f"{CHANNELS}/join"] * 3
    assert posts[0].body == {"channel": {"id": channel_id}}
    keys = [r.headers["idempotency-key"] for r in posts]
    assert keys[0] == keys[1] != keys[2]
    assert conn.join_counts(ACCOUNT) == {channel_id: 2} and conn.stats()["idempotent_replays"] == 1


def test_create_posts_the_body_and_raises_truto_errors_typed(conn: TrutoSandbox) -> None:
    # The sandbox implements no channel creation: Truto's 404 comes back as the typed error.
    create = unified(method="create", body={"name": "new"}, idempotency_key="my-key")
    with pytest.raises(TrutoNotFoundError):
        create.execute(context())
    [request] = conn.requests
    assert (request.method, request.path, request.body) == ("POST", CHANNELS, {"name": "new"})
    assert request.headers["idempotency-key"] == "my-key"


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"method": "get"}, "resource_id"),
        ({"method": "delete", "resource_id": " "}, "resource_id"),
        ({"method": "list", "resource_id": "C1"}, "resource_id"),
        ({"method": "create", "resource_id": "C1"}, "resource_id"),
        ({"method": "list", "body": {"a": 1}}, "body"),
        ({"method": "join", "body": "not json"}, "body"),
        ({"method": "join", "body": ["a"]}, "body"),
        ({"query": 5}, "query"),
        ({"integrated_account_id": 7}, "integrated_account_id"),
    ],
)
def test_bad_input_is_named_before_any_request(
    conn: TrutoSandbox, kwargs: dict[str, Any], argument: str
) -> None:
    with pytest.raises(TrutoInputError) as caught:
        unified(**kwargs).execute(context())
    assert caught.value.argument == argument
    assert conn.requests == []


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"model": "crm/contacts"}, "model"),
        ({"resource": ""}, "resource"),
        ({"method": None}, "method"),
        ({"max_pages": 0}, "max_pages"),
        ({"method": "get", "resource_id": "C1", "max_pages": 2}, "max_pages"),
        ({"limit": True}, "limit"),
    ],
)
def test_static_arguments_are_checked_when_the_dag_is_parsed(kwargs: dict[str, Any], argument: str) -> None:
    with pytest.raises(TrutoInputError) as caught:
        unified(**kwargs)
    assert caught.value.argument == argument


def test_a_missing_account_is_named_before_any_request(
    sandbox: TrutoSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_TRUTO_DEFAULT", connection_json(sandbox, integrated_account_id=""))
    with pytest.raises(TrutoInputError) as caught:
        unified().execute(context())
    assert caught.value.argument == "integrated_account_id" and sandbox.requests == []


def test_unified_template_fields() -> None:
    assert set(TrutoUnifiedApiOperator.template_fields) == {
        "resource_id",
        "integrated_account_id",
        "query",
        "body",
        "idempotency_key",
    }
