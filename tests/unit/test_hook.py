"""TrutoHook: connection -> config, the channel helpers' wire format, test_connection, no token leaks."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from airflow_provider_truto.exceptions import TrutoAuthError, TrutoInputError, TrutoNotFoundError
from airflow_provider_truto.hooks.truto import TrutoHook
from airflow_provider_truto.ratelimit import RateLimit
from tests.conftest import ACCOUNT, TOKEN, connection_json

CHANNELS = "/unified/instant-messaging/channels"


@pytest.fixture
def hook(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> TrutoHook:
    monkeypatch.setenv("AIRFLOW_CONN_TRUTO_DEFAULT", connection_json(sandbox))
    return TrutoHook()


def set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: Any) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "truto", **fields}))


def test_hook_metadata() -> None:
    assert (TrutoHook.conn_type, TrutoHook.default_conn_name, TrutoHook.hook_name) == (
        "truto",
        "truto_default",
        "Truto",
    )
    assert TrutoHook.conn_name_attr == "truto_conn_id"


def test_config_from_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(
        monkeypatch,
        "t1",
        host="truto.example.test",
        password="tok-abcdef",
        extra={"integrated_account_id": "acc", "timeout": "12", "max_retries": 2, "rate_limit": "5/1"},
    )
    config = TrutoHook("t1").config
    assert config.base_url == "https://truto.example.test"
    assert (config.integrated_account_id, config.timeout, config.max_retries) == ("acc", 12.0, 2)
    assert config.account_rate_limit == RateLimit(5, 1.0) and config.token_rate_limit == RateLimit(500, 10.0)
    assert "tok-abcdef" not in repr(config)


def test_config_defaults_and_argument_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(
        monkeypatch, "t2", password="tok-abcdef", extra={"integrated_account_id": "from-extra", "timeout": 5}
    )
    config = TrutoHook("t2", integrated_account_id="from-arg", timeout=9, max_retries=0).config
    assert config.base_url == "https://api.truto.one"
    assert (config.integrated_account_id, config.timeout, config.max_retries) == ("from-arg", 9.0, 0)
    assert config.account_rate_limit == RateLimit(50, 10.0)


def test_host_with_schema_and_port(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, "t3", host="127.0.0.1", port=8080, schema="http", password="tok-abcdef")
    assert TrutoHook("t3").config.base_url == "http://127.0.0.1:8080"


@pytest.mark.parametrize(
    ("fields", "argument"),
    [
        ({"host": "x"}, "password"),
        ({"password": "t", "extra": {"timeout": "soon"}}, "timeout"),
        ({"password": "t", "extra": {"rate_limit": "fast"}}, "rate_limit"),
    ],
)
def test_bad_connection_is_named(monkeypatch: pytest.MonkeyPatch, fields: dict, argument: str) -> None:
    set_conn(monkeypatch, "bad", **fields)
    with pytest.raises(TrutoInputError) as caught:
        _ = TrutoHook("bad").config
    assert argument in caught.value.argument


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
    set_conn(monkeypatch, "noacct", host=sandbox.url, password=TOKEN, extra={"rate_limit": "off"})
    with pytest.raises(TrutoInputError, match="integrated_account_id"):
        TrutoHook("noacct").join_channel("C1")
    assert sandbox.requests == []


def test_one_session_for_every_call(hook: TrutoHook, sandbox: Any) -> None:
    session = hook.client.session
    hook.get_channel(sandbox.channels(ACCOUNT)[0]["id"])
    list(hook.list_channels())
    assert hook.get_conn().session is session


def test_test_connection_good_and_bad(hook: TrutoHook, sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    ok, message = hook.test_connection()
    assert ok and ACCOUNT in message
    assert sandbox.requests[-1].path == f"/integrated-account/{ACCOUNT}"

    set_conn(
        monkeypatch, "wrong", host=sandbox.url, password="not-the-token-xyz", extra={"rate_limit": "off"}
    )
    ok, message = TrutoHook("wrong").test_connection()
    assert not ok and "401" in message and "not-the-token-xyz" not in message

    set_conn(monkeypatch, "noaccount", host=sandbox.url, password=TOKEN)
    ok, message = TrutoHook("noaccount").test_connection()
    assert ok and sandbox.requests[-1].path == "/integrated-account"

    set_conn(monkeypatch, "down", host="http://127.0.0.1:9", password=TOKEN, extra={"max_retries": 0})
    ok, message = TrutoHook("down").test_connection()
    assert not ok and "failed" in message


def test_list_integrated_accounts(hook: TrutoHook, sandbox: Any) -> None:
    sandbox.add_account("acct-reauth", status="needs_reauth")
    active = list(hook.list_integrated_accounts(status="active"))
    assert [a["id"] for a in active] == [ACCOUNT]
    assert len(list(hook.list_integrated_accounts(limit=1))) == 2


def test_auth_error_is_typed_and_token_free(
    sandbox: Any, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "leaky-token-0987654321"
    set_conn(monkeypatch, "leak", host=sandbox.url, password=secret, extra={"integrated_account_id": ACCOUNT})
    with pytest.raises(TrutoAuthError) as caught:
        TrutoHook("leak").join_channel("C1")
    assert secret not in str(caught.value) and secret not in (caught.value.body or "")
    assert secret not in caplog.text


def test_the_account_is_resolved_from_the_connection_without_a_session(hook: TrutoHook, sandbox: Any) -> None:
    assert hook.account_id() == ACCOUNT and hook.account_id("acct-2") == "acct-2"
    with pytest.raises(TrutoInputError):
        hook.account_id("  ")
    assert "client" not in hook.__dict__ and sandbox.requests == []


def test_the_sync_and_async_clients_come_from_one_config(hook: TrutoHook, sandbox: Any) -> None:
    async def listed() -> list[str]:
        async with await hook.get_async_conn() as client:
            assert client.config is hook.config
            return [c["id"] async for c in client.paginate_unified("instant-messaging", "channels")]

    assert asyncio.run(listed()) == [c["id"] for c in sandbox.channels(ACCOUNT)]
    assert hook.get_conn().config is hook.config
