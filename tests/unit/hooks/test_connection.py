"""Reading a ``truto`` connection (airflow_provider_truto/hooks/connection.py), through TrutoHook.config:
extras as users and the form save them, odd values named, the token never shown."""

from __future__ import annotations

import importlib
import json
import logging
import socket
from typing import Any

import pytest

from airflow_provider_truto.client.config import (
    DEFAULT_ACCOUNT_RATE_LIMIT,
    DEFAULT_ENVIRONMENT_RATE_LIMIT,
    DEFAULT_MAX_RESPONSE_MB,
    DEFAULT_MAX_RETRIES,
    DEFAULT_PAGE_CAP,
    DEFAULT_TIMEOUT_SECONDS,
    TrutoConfig,
)
from airflow_provider_truto.exceptions import (
    TrutoAuthError,
    TrutoError,
    TrutoInputError,
    TrutoInvalidResponseError,
)
from airflow_provider_truto.get_provider_info import get_provider_info
from airflow_provider_truto.hooks.connection_type import CONNECTION_EXTRAS, connection_type_info
from airflow_provider_truto.hooks.truto import TrutoHook
from airflow_provider_truto.hooks.webhook_secret import WEBHOOK_SECRET_EXTRA
from airflow_provider_truto.pacing.limits import RateLimit
from airflow_provider_truto.testing import TrutoSandbox
from tests.support.helpers import (
    ACCOUNT,
    TOKEN,
    assert_token_free,
    exception_chain,
    hostile_connection,
    set_connection,
)
from tests.support.hostile_servers import (
    HostileServer,
    Request,
    json_escaped,
    one_page,
    reply,
)

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
    assert config.account_rate_limit == RateLimit(5, 1.0) and config.environment_rate_limit == RateLimit(
        500, 10.0
    )
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


def test_no_extra_but_the_webhook_secret_has_a_name_airflow_masks_as_a_secret() -> None:
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
        WEBHOOK_SECRET_EXTRA,
    } <= extras
    hide = getattr(masker, "should_hide_value_for_key", None)
    for name in sorted(extras - {WEBHOOK_SECRET_EXTRA}):
        assert not [word for word in sensitive if word in name.lower()], name
        assert hide is None or not hide(name), name
    # The webhook's signing secret is one on purpose: masked in every log, answer and form.
    assert [word for word in sensitive if word in WEBHOOK_SECRET_EXTRA]
    assert hide is None or hide(WEBHOOK_SECRET_EXTRA)


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
    assert config.environment_rate_limit == DEFAULT_ENVIRONMENT_RATE_LIMIT


@pytest.mark.parametrize("off", ["off", "OFF", " Off "])
def test_only_off_switches_pacing_off(monkeypatch: pytest.MonkeyPatch, off: str) -> None:
    config = hook_with_extras(monkeypatch, rate_limit=off, environment_rate_limit=off).config
    assert config.account_rate_limit is None and config.environment_rate_limit is None


@pytest.mark.parametrize("name", ["rate_limit", "environment_rate_limit"])
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
    assert config.environment_rate_limit == DEFAULT_ENVIRONMENT_RATE_LIMIT
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
