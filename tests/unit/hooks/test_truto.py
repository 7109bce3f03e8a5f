"""TrutoHook (airflow_provider_truto/hooks/truto.py): its metadata, the channel and account calls, both
clients from one config, Airflow's "Test connection". Reading the connection: test_connection.py."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from airflow_provider_truto.exceptions import (
    TrutoInputError,
    TrutoNotFoundError,
)
from airflow_provider_truto.hooks.truto import TrutoHook
from tests.support.helpers import (
    ACCOUNT,
    CHANNELS,
    TOKEN,
    connection_json,
    set_connection,
)


@pytest.fixture
def hook(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> TrutoHook:
    monkeypatch.setenv("AIRFLOW_CONN_TRUTO_DEFAULT", connection_json(sandbox))
    return TrutoHook()


def test_hook_metadata() -> None:
    assert (TrutoHook.conn_type, TrutoHook.default_conn_name, TrutoHook.hook_name) == (
        "truto",
        "truto_default",
        "Truto",
    )
    assert TrutoHook.conn_name_attr == "truto_conn_id"


# -- calls ---------------------------------------------------------------------------------------------------


def test_join_channel_wire_format(hook: TrutoHook, sandbox: Any) -> None:
    channel = sandbox.add_channel(ACCOUNT, name="brand-new")
    answer = hook.join_channel(
        channel["id"],
        remote_data={"note": "hi"},
        response_format="unified",
        exclude_fields=["description"],
        ignore_remote_data=True,
        remote_query={"x": 1},
    )
    assert answer["id"] == channel["id"] and answer["is_member"] is True
    assert "remote_data" not in answer and "description" not in answer
    request = sandbox.requests[-1]
    assert (request.method, request.path) == ("POST", CHANNELS + "/join")
    assert request.body == {"channel": {"id": channel["id"]}, "remote_data": {"note": "hi"}}
    assert request.query == {
        "integrated_account_id": [ACCOUNT],
        "truto_ignore_remote_data": ["true"],
        "truto_exclude_fields[]": ["description"],
        "remote_query[x]": ["1"],
    }


def test_join_again_is_a_success(hook: TrutoHook, sandbox: Any) -> None:
    channel = sandbox.add_channel(ACCOUNT, name="twice")
    hook.join_channel(channel["id"])
    assert hook.join_channel(channel["id"])["is_member"] is True


def test_join_with_explicit_account_and_raw_format(hook: TrutoHook, sandbox: Any) -> None:
    sandbox.add_account("acct-2")
    channel = sandbox.add_channel("acct-2", name="other")
    raw = hook.join_channel(channel["id"], "acct-2", response_format="raw")
    assert raw["ok"] is True and raw["channel"]["id"] == channel["id"]  # Slack's own answer
    assert sandbox.requests[-1].query["truto_response_format"] == ["raw"]


def test_get_and_list_channels(hook: TrutoHook, sandbox: Any) -> None:
    listed = list(hook.list_channels(limit=13))
    assert [c["id"] for c in listed] == [c["id"] for c in sandbox.channels(ACCOUNT)]
    assert hook.get_channel(listed[0]["id"])["name"] == listed[0]["name"]
    with pytest.raises(TrutoNotFoundError):
        hook.get_channel("CNOPE")


def test_list_channels_passes_filters(hook: TrutoHook, sandbox: Any) -> None:
    next(hook.list_channels(type="channel", workspace={"id": "W1"}))
    assert sandbox.requests[0].query["type"] == ["channel"]
    assert sandbox.requests[0].query["workspace[id]"] == ["W1"]


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda h: h.join_channel(""), "channel_id"),
        (lambda h: h.join_channel("   "), "channel_id"),
        (lambda h: h.join_channel(None), "channel_id"),
        (lambda h: h.join_channel(42), "channel_id"),
        (lambda h: h.join_channel("C1", "  "), "integrated_account_id"),
        (lambda h: h.join_channel("C1", response_format="xml"), "response_format"),
        (lambda h: h.join_channel("C1", exclude_fields="name"), "exclude_fields"),
        (lambda h: h.join_channel("C1", remote_data=["x"]), "remote_data"),
        (lambda h: h.join_channel("C1", remote_query="x=1"), "remote_query"),
        (lambda h: h.get_channel(""), "channel_id"),
        (lambda h: next(h.list_channels(limit=0)), "limit"),
    ],
)
def test_bad_input_is_refused_before_any_request(
    hook: TrutoHook, sandbox: Any, call: Any, argument: str
) -> None:
    with pytest.raises(TrutoInputError) as caught:
        call(hook)
    assert caught.value.argument == argument and argument in str(caught.value)
    assert sandbox.requests == []


def test_missing_account_is_refused(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(monkeypatch, "noacct", host=sandbox.url, password=TOKEN, extra={"rate_limit": "off"})
    with pytest.raises(TrutoInputError, match="integrated_account_id"):
        TrutoHook("noacct").join_channel("C1")
    assert sandbox.requests == []


def test_list_integrated_accounts(hook: TrutoHook, sandbox: Any) -> None:
    sandbox.add_account("acct-reauth", status="needs_reauth")
    active = list(hook.list_integrated_accounts(status="active"))
    assert [a["id"] for a in active] == [ACCOUNT]
    assert len(list(hook.list_integrated_accounts(limit=1))) == 2


def test_test_connection_good_and_bad(hook: TrutoHook, sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    ok, message = hook.test_connection()
    assert ok and ACCOUNT in message
    assert sandbox.requests[-1].path == f"/integrated-account/{ACCOUNT}"

    set_connection(
        monkeypatch, "wrong", host=sandbox.url, password="not-the-token-xyz", extra={"rate_limit": "off"}
    )
    ok, message = TrutoHook("wrong").test_connection()
    assert not ok and "401" in message and "not-the-token-xyz" not in message

    set_connection(monkeypatch, "noaccount", host=sandbox.url, password=TOKEN)
    ok, message = TrutoHook("noaccount").test_connection()
    assert ok and sandbox.requests[-1].path == "/integrated-account"

    set_connection(monkeypatch, "down", host="http://127.0.0.1:9", password=TOKEN, extra={"max_retries": 0})
    ok, message = TrutoHook("down").test_connection()
    assert not ok and "cannot connect to http://127.0.0.1:9: connection refused" in message


# -- one config, two clients ---------------------------------------------------------------------------------


def test_the_account_is_resolved_from_the_connection_without_a_session(hook: TrutoHook, sandbox: Any) -> None:
    assert hook.account_id() == ACCOUNT and hook.account_id("acct-2") == "acct-2"
    with pytest.raises(TrutoInputError):
        hook.account_id("  ")
    assert "client" not in hook.__dict__ and sandbox.requests == []


def test_one_session_for_every_call(hook: TrutoHook, sandbox: Any) -> None:
    session = hook.client.session
    hook.get_channel(sandbox.channels(ACCOUNT)[0]["id"])
    list(hook.list_channels())
    assert hook.get_conn().session is session


def test_the_sync_and_async_clients_come_from_one_config(hook: TrutoHook, sandbox: Any) -> None:
    async def listed() -> list[str]:
        async with await hook.get_async_conn() as client:
            assert client.config is hook.config
            return [c["id"] async for c in client.list_unified("instant-messaging", "channels")]

    assert asyncio.run(listed()) == [c["id"] for c in sandbox.channels(ACCOUNT)]
    assert hook.get_conn().config is hook.config
