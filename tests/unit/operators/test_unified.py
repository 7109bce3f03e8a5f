"""TrutoUnifiedApiOperator (airflow_provider_truto/operators/unified.py) run by hand on the sandbox: every
method, lists capped for XCom, idempotency keys of writes, arguments checked when parsed and when run."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_truto.exceptions import (
    TrutoInputError,
    TrutoNotFoundError,
    TrutoTooManyItemsError,
)
from airflow_provider_truto.operators.unified import DEFAULT_MAX_ITEMS, TrutoUnifiedApiOperator
from airflow_provider_truto.testing import TrutoSandbox
from tests.support.helpers import (
    ACCOUNT,
    CHANNELS,
    AirflowFailException,
    connection_json,
    new_channel,
    task_context,
)


def unified(**kwargs: Any) -> TrutoUnifiedApiOperator:
    return TrutoUnifiedApiOperator(
        task_id="call", **{"model": "instant-messaging", "resource": "channels", **kwargs}
    )


def test_list_returns_every_item_of_every_page(conn: TrutoSandbox) -> None:
    conn.empty_pages = True
    items = unified(limit=7).execute(task_context())
    assert [c["id"] for c in items] == [c["id"] for c in conn.channels(ACCOUNT)] and len(items) == 60
    pages = [r for r in conn.requests if r.path == CHANNELS]
    assert len(pages) > 9 and all(r.query["integrated_account_id"] == [ACCOUNT] for r in pages)


def test_list_stops_after_max_pages(conn: TrutoSandbox) -> None:
    items = unified(limit=10, max_pages=2).execute(task_context())
    assert [c["id"] for c in items] == [c["id"] for c in conn.channels(ACCOUNT)][:20]
    assert len(conn.requests) == 2


def test_list_query_nested_and_as_json_text(conn: TrutoSandbox) -> None:
    unified(
        query='{"workspace": {"id": "W1"}, "type": ["channel", "dm"], "truto_ignore_remote_data": true}',
        max_pages=1,
    ).execute(task_context())
    assert conn.requests[0].query == {
        "integrated_account_id": [ACCOUNT],
        "workspace[id]": ["W1"],
        "type[]": ["channel", "dm"],
        "truto_ignore_remote_data": ["true"],
    }


def test_get_returns_the_object(conn: TrutoSandbox) -> None:
    channel = conn.channels(ACCOUNT)[5]
    answer = unified(method="get", resource_id=channel["id"]).execute(task_context())
    assert answer == channel
    request = conn.requests[0]
    assert (request.method, request.path) == ("GET", f"{CHANNELS}/{channel['id']}")
    assert "idempotency-key" not in request.headers


def test_custom_method_join_with_a_stable_idempotency_key(conn: TrutoSandbox) -> None:
    conn.wrap_custom_method_results = True  # {"result": {...}} is unwrapped
    channel_id = new_channel(conn, "to-join", 1)
    join = unified(method="join", body={"channel": {"id": channel_id}})
    answer = join.execute(task_context())
    assert answer["id"] == channel_id and answer["is_member"] is True
    # An Airflow retry of the same task instance sends the same key: Truto replays, joins once.
    join.execute(task_context())
    unified(method="join", body={"channel": {"id": channel_id}}).execute(task_context(map_index=3))
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
        create.execute(task_context())
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
        unified(**kwargs).execute(task_context())
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
        unified().execute(task_context())
    assert caught.value.argument == "integrated_account_id" and sandbox.requests == []


def test_unified_template_fields() -> None:
    assert set(TrutoUnifiedApiOperator.template_fields) == {
        "resource_id",
        "integrated_account_id",
        "query",
        "body",
        "idempotency_key",
    }


def listing(**kwargs: Any) -> TrutoUnifiedApiOperator:
    return TrutoUnifiedApiOperator(task_id="list", model="instant-messaging", resource="channels", **kwargs)


def run(operator: TrutoUnifiedApiOperator) -> Any:
    return operator.execute({"ti": SimpleNamespace(dag_id="d", run_id="r", task_id="list", map_index=-1)})


def test_a_list_over_the_cap_fails_naming_the_argument_and_stops_reading(conn: TrutoSandbox) -> None:
    with pytest.raises(TrutoTooManyItemsError) as raised:
        run(listing(limit=10, max_items=25))
    error = raised.value
    assert (error.argument, error.limit) == ("max_items", 25)
    assert isinstance(error, AirflowFailException)  # a retry would meet the same list: no retries
    assert "max_items=25" in str(error) and "TrutoHook.list_unified" in str(error)
    # The 26th item is on the third page: nothing past it was fetched.
    assert len([r for r in conn.requests if r.path == CHANNELS]) == 3


def test_a_list_at_the_cap_or_without_one_is_returned_whole(conn: TrutoSandbox) -> None:
    every = [c["id"] for c in conn.channels(ACCOUNT)]
    assert [c["id"] for c in run(listing(limit=25, max_items=60))] == every
    assert [c["id"] for c in run(listing(limit=25, max_items=None))] == every


def test_default_cap_is_ten_thousand(sandbox: TrutoSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    assert DEFAULT_MAX_ITEMS == 10_000 and listing().max_items == DEFAULT_MAX_ITEMS
    big = "acct-big"
    sandbox.add_account(big)
    sandbox.seed_channels(big, DEFAULT_MAX_ITEMS + 1, seed=5, mixed=False)
    monkeypatch.setenv("AIRFLOW_CONN_TRUTO_DEFAULT", connection_json(sandbox, integrated_account_id=big))
    with pytest.raises(TrutoTooManyItemsError, match="max_items=10000"):
        run(listing(limit=1000))
    assert len(run(listing(limit=1000, max_items=None))) == DEFAULT_MAX_ITEMS + 1


@pytest.mark.parametrize("bad", [0, -1, "many", 2.5])
def test_a_bad_cap_is_named_when_the_dag_is_parsed(bad: Any) -> None:
    with pytest.raises(TrutoInputError, match="max_items"):
        listing(max_items=bad)
