"""TrutoHook (airflow_provider_truto/hooks/truto.py): a connection read into one config (extras as users
and the form save them, odd values named, the token never shown), the channel and account calls, both
clients from that config, Airflow's "Test connection"."""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import socket
from typing import Any

import pytest

from airflow_provider_truto.config import (
    DEFAULT_ACCOUNT_RATE_LIMIT,
    DEFAULT_MAX_RESPONSE_MB,
    DEFAULT_MAX_RETRIES,
    DEFAULT_PAGE_CAP,
    DEFAULT_TIMEOUT_SECONDS,
    DEFAULT_TOKEN_RATE_LIMIT,
    TrutoConfig,
)
from airflow_provider_truto.exceptions import (
    TrutoAuthError,
    TrutoError,
    TrutoInputError,
    TrutoInvalidResponseError,
    TrutoNotFoundError,
)
from airflow_provider_truto.get_provider_info import get_provider_info
from airflow_provider_truto.hooks.form import connection_type_info
from airflow_provider_truto.hooks.truto import CONNECTION_EXTRAS, TrutoHook
from airflow_provider_truto.ratelimit import RateLimit
from airflow_provider_truto.testing import TrutoSandbox
from tests.hostile_servers import (
    HostileServer,
    Request,
    json_escaped,
    one_page,
    reply,
)
from tests.support import (
    ACCOUNT,
    CHANNELS,
    TOKEN,
    assert_token_free,
    connection_json,
    exception_chain,
    hostile_connection,
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


# -- the connection, read into one config --------------------------------------------------------------------


def test_config_from_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(
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
    set_connection(
        monkeypatch, "t2", password="tok-abcdef", extra={"integrated_account_id": "from-extra", "timeout": 5}
    )
    config = TrutoHook("t2", integrated_account_id="from-arg", timeout=9, max_retries=0).config
    assert config.base_url == "https://api.truto.one"
    assert (config.integrated_account_id, config.timeout, config.max_retries) == ("from-arg", 9.0, 0)
    assert config.account_rate_limit == RateLimit(50, 10.0)


def test_host_with_schema_and_port(monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(monkeypatch, "t3", host="127.0.0.1", port=8080, schema="http", password="tok-abcdef")
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
    set_connection(monkeypatch, "bad", **fields)
    with pytest.raises(TrutoInputError) as caught:
        _ = TrutoHook("bad").config
    assert argument in caught.value.argument


@pytest.mark.parametrize(
    ("extra", "argument"),
    [
        ({"timeout": "nan"}, "timeout"),
        ({"timeout": "inf"}, "timeout"),
        ({"timeout": 1e400}, "timeout"),
        ({"max_retries": "nan"}, "max_retries"),
        ({"max_retries": "inf"}, "max_retries"),
        ({"max_retries": 2.5}, "max_retries"),
        ({"page_cap": 0}, "page_cap"),
        ({"max_response_mb": "nan"}, "max_response_mb"),
    ],
)
def test_nan_or_infinite_numbers_in_the_connection_are_named(
    monkeypatch: pytest.MonkeyPatch, extra: dict[str, Any], argument: str
) -> None:
    hostile_connection(monkeypatch, "http://127.0.0.1:9", **extra)
    with pytest.raises(TrutoInputError) as caught:
        _ = TrutoHook("hostile").config
    assert caught.value.argument == f"connection 'hostile': {argument}"


def test_the_size_cap_is_a_connection_extra_with_a_generous_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert TrutoConfig(token=TOKEN).max_response_bytes == DEFAULT_MAX_RESPONSE_MB * 1e6 == 50_000_000
    hostile_connection(monkeypatch, "http://127.0.0.1:9", max_response_mb="2.5", timeout="")
    config = TrutoHook("hostile").config
    assert config.max_response_bytes == 2_500_000 and config.timeout == 30.0


def airflow_secrets_masker() -> Any:
    """Airflow's own secrets masker module, wherever this Airflow release keeps it."""
    for module in (
        "airflow.sdk._shared.secrets_masker",
        "airflow._shared.secrets_masker",
        "airflow.sdk.execution_time.secrets_masker",
        "airflow.utils.log.secrets_masker",
    ):
        try:
            return importlib.import_module(module)
        except ImportError:
            continue
    raise AssertionError("Airflow's secrets masker was not found")


def declared_extras() -> set[str]:
    [conn_type] = get_provider_info()["connection-types"]
    names = set(conn_type["conn-fields"]) | set(CONNECTION_EXTRAS)
    widgets = getattr(TrutoHook, "get_connection_form_widgets", None)
    if widgets is not None:  # Airflow 3.0/3.1's form, if the hook declares one
        names |= {name.removeprefix("extra__truto__") for name in widgets()}
    return names


def test_no_extra_has_a_name_airflow_masks_as_a_secret() -> None:
    masker = airflow_secrets_masker()
    sensitive = {word.lower() for word in masker.DEFAULT_SENSITIVE_FIELDS}
    assert "token" in sensitive and "password" in sensitive  # the list is the real one
    extras = declared_extras()
    assert {
        "integrated_account_id",
        "timeout",
        "max_retries",
        "rate_limit",
        "environment_rate_limit",
    } <= extras
    for name in sorted(extras):
        assert not [word for word in sensitive if word in name.lower()], name
        hide = getattr(masker, "should_hide_value_for_key", None)
        assert hide is None or not hide(name), name


def hook_with_extras(monkeypatch: pytest.MonkeyPatch, **extra: Any) -> TrutoHook:
    monkeypatch.setenv(
        "AIRFLOW_CONN_EXTRAS", json.dumps({"conn_type": "truto", "password": TOKEN, "extra": extra})
    )
    return TrutoHook("extras")


@pytest.mark.parametrize("empty", [None, "", "  "])
def test_a_null_or_empty_extra_means_the_default(monkeypatch: pytest.MonkeyPatch, empty: Any) -> None:
    names = ("integrated_account_id", "timeout", "max_retries", "rate_limit", "environment_rate_limit")
    config = hook_with_extras(monkeypatch, **dict.fromkeys(names, empty)).config
    assert config.integrated_account_id is None
    assert (config.timeout, config.max_retries) == (DEFAULT_TIMEOUT_SECONDS, DEFAULT_MAX_RETRIES)
    assert config.account_rate_limit == DEFAULT_ACCOUNT_RATE_LIMIT
    assert config.token_rate_limit == DEFAULT_TOKEN_RATE_LIMIT


@pytest.mark.parametrize("off", ["off", "OFF", " Off "])
def test_only_off_switches_pacing_off(monkeypatch: pytest.MonkeyPatch, off: str) -> None:
    config = hook_with_extras(monkeypatch, rate_limit=off, environment_rate_limit=off).config
    assert config.account_rate_limit is None and config.token_rate_limit is None


@pytest.mark.parametrize("name", ["rate_limit", "environment_rate_limit", "token_rate_limit"])
@pytest.mark.parametrize("value", ["none", "None", "null", "disabled", "***", 50, True, ["50/10"]])
def test_an_unreadable_rate_limit_is_named_and_says_to_write_off(
    monkeypatch: pytest.MonkeyPatch, name: str, value: Any
) -> None:
    with pytest.raises(TrutoInputError) as caught:
        _ = hook_with_extras(monkeypatch, **{name: value}).config
    assert caught.value.argument == f"connection 'extras': {name}" and "'off'" in str(caught.value)


def test_rate_limit_parse_refuses_none_and_empty_text() -> None:
    assert RateLimit.parse(" OFF ") is None and RateLimit.parse("5/2") == RateLimit(5, 2.0)
    for bad in ("", "none", "None"):
        with pytest.raises(ValueError, match="'off'"):
            RateLimit.parse(bad)


def warnings_about_the_old_name(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> list[str]:
    """The hook's warning lines: printed by structlog (Airflow 3.1+) or logging records (3.0)."""
    printed = "".join(capfd.readouterr()).splitlines()
    lines = printed if any("'token_rate_limit'" in line for line in printed) else caplog.text.splitlines()
    return [line for line in lines if "'token_rate_limit'" in line and "warning" in line.lower()]


def test_the_old_token_rate_limit_still_works_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    hook = hook_with_extras(monkeypatch, token_rate_limit="7/1")
    assert hook.config.token_rate_limit == RateLimit(7, 1.0)
    assert hook.config.token_rate_limit == RateLimit(7, 1.0)  # read once per hook
    [warning] = warnings_about_the_old_name(capfd, caplog)
    assert "deprecated" in warning and "rename it to 'environment_rate_limit'" in warning


def test_when_both_names_are_set_the_new_one_wins_and_the_warning_says_so(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    config = hook_with_extras(monkeypatch, token_rate_limit="7/1", environment_rate_limit="9/1").config
    assert config.token_rate_limit == RateLimit(9, 1.0)
    [warning] = warnings_about_the_old_name(capfd, caplog)
    assert "'environment_rate_limit' is used" in warning


def test_an_empty_new_name_leaves_the_old_value_in_force(monkeypatch: pytest.MonkeyPatch) -> None:
    # A connection saved by the new form keeps an old hidden value; the empty new field means "not set".
    config = hook_with_extras(monkeypatch, token_rate_limit="off", environment_rate_limit="").config
    assert config.token_rate_limit is None


def test_the_sandbox_connection_uses_the_new_name() -> None:

    with TrutoSandbox(TOKEN) as sandbox:
        extra = sandbox.airflow_connection()["extra"]
    assert "environment_rate_limit" in extra and "token_rate_limit" not in extra


def test_untouched_form_fields_mean_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    saved = dict.fromkeys(connection_type_info()["conn-fields"]) | {"integrated_account_id": ACCOUNT}
    conn = {"conn_type": "truto", "host": "http://127.0.0.1:9", "password": TOKEN, "extra": saved}
    monkeypatch.setenv("AIRFLOW_CONN_TRUTO_DEFAULT", json.dumps(conn))
    config = TrutoHook().config
    assert config.integrated_account_id == ACCOUNT
    assert (config.timeout, config.max_retries) == (DEFAULT_TIMEOUT_SECONDS, DEFAULT_MAX_RETRIES)
    assert config.account_rate_limit == DEFAULT_ACCOUNT_RATE_LIMIT
    assert config.token_rate_limit == DEFAULT_TOKEN_RATE_LIMIT
    assert (config.page_cap, config.max_response_bytes) == (DEFAULT_PAGE_CAP, DEFAULT_MAX_RESPONSE_MB * 1e6)
    assert config.rate_limit_redis is None


# -- the token -----------------------------------------------------------------------------------------------


def test_a_token_pasted_with_a_trailing_newline_is_stripped(monkeypatch: pytest.MonkeyPatch) -> None:
    with HostileServer(one_page) as server:
        hostile_connection(monkeypatch, server.url, password=f"  {TOKEN}\n")
        assert [c["id"] for c in TrutoHook("hostile").list_channels()] == ["C1"]
        assert server.requests[0].headers["authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize("inside", [" ", "\t", "\n", "\x00", "\x7f", "é"])
def test_a_token_with_odd_characters_inside_is_refused_without_showing_it(
    monkeypatch: pytest.MonkeyPatch, inside: str
) -> None:
    head, tail = TOKEN[:10], TOKEN[10:]
    with HostileServer(one_page) as server:
        hostile_connection(monkeypatch, server.url, password=head + inside + tail)
        with pytest.raises(TrutoInputError) as caught:
            list(TrutoHook("hostile").list_channels())
        assert "password" in caught.value.argument and "paste it again" in str(caught.value)
        for link in exception_chain(caught.value):
            assert head not in f"{link!r}{vars(link)!r}" and tail not in f"{link!r}{vars(link)!r}"
        assert server.requests == []


@pytest.mark.parametrize(
    "extra", [{"timeout": "soon"}, {"rate_limit": "none"}, {"integrated_account_id": None}], ids=str
)
def test_no_frame_of_an_escaping_error_shows_the_token(monkeypatch: pytest.MonkeyPatch, extra: Any) -> None:
    """Errors raised while the connection is read, or while an echoing answer is decoded."""
    hostile_connection(monkeypatch, "http://127.0.0.1:9", password=f"{TOKEN}\n", **extra)
    with pytest.raises(TrutoError) as caught:
        TrutoHook("hostile").get_channel("C1")
    assert_token_free(caught.value)

    def echo(request: Request, sock: socket.socket) -> None:
        reply(sock, 200, f"not json, but the token: {TOKEN} {json_escaped(TOKEN)}")

    with HostileServer(echo) as server:
        hostile_connection(monkeypatch, server.url, password=TOKEN)
        with pytest.raises(TrutoInvalidResponseError) as caught:
            TrutoHook("hostile").get_channel("C1")
    assert_token_free(caught.value)


def test_auth_error_is_typed_and_token_free(
    sandbox: Any, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "leaky-token-0987654321"
    set_connection(
        monkeypatch, "leak", host=sandbox.url, password=secret, extra={"integrated_account_id": ACCOUNT}
    )
    with pytest.raises(TrutoAuthError) as caught:
        TrutoHook("leak").join_channel("C1")
    assert secret not in str(caught.value) and secret not in (caught.value.body or "")
    assert secret not in caplog.text


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
    assert not ok and "failed" in message


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
            return [c["id"] async for c in client.paginate_unified("instant-messaging", "channels")]

    assert asyncio.run(listed()) == [c["id"] for c in sandbox.channels(ACCOUNT)]
    assert hook.get_conn().config is hook.config
