"""TrutoConfig (airflow_provider_truto/config.py): the settings both clients share, checked when made;
which account a call acts on."""

from __future__ import annotations

import math
from typing import Any

import pytest

from airflow_provider_truto.client.config import DEFAULT_PAGE_CAP, TrutoConfig
from airflow_provider_truto.exceptions import (
    TrutoInputError,
)
from airflow_provider_truto.hooks.truto import TrutoHook
from tests.support.helpers import (
    ACCOUNT,
    TOKEN,
    hostile_connection,
)


def test_defaults_and_checks() -> None:
    config = TrutoConfig(token="t")
    assert (config.base_url, config.timeout, config.max_retries) == ("https://api.truto.one", 30.0, 5)
    assert config.page_cap == DEFAULT_PAGE_CAP == 10_000 and config.max_response_bytes == 50_000_000
    with pytest.raises(TrutoInputError, match="token"):
        TrutoConfig(token=" ")
    with pytest.raises(TrutoInputError, match="timeout"):
        TrutoConfig(token="t", timeout=0)
    assert TrutoConfig(token="t", base_url="example.test/").base_url == "https://example.test"
    assert TrutoConfig(token="t", base_url="").base_url == "https://api.truto.one"
    assert TrutoConfig(token="t", base_url="http://127.0.0.1:1").base_url == "http://127.0.0.1:1"


def test_the_account_is_the_argument_else_the_connections() -> None:
    config = TrutoConfig(token=TOKEN, integrated_account_id=ACCOUNT)
    assert config.account_id() == ACCOUNT and config.account_id(None) == ACCOUNT
    assert config.account_id("acct-2") == "acct-2"


@pytest.mark.parametrize(
    ("given", "problem"), [(None, "no integrated account given"), ("", "empty"), (7, "string")]
)
def test_a_missing_or_bad_account_is_named(given: object, problem: str) -> None:
    with pytest.raises(TrutoInputError, match=problem) as caught:
        TrutoConfig(token=TOKEN).account_id(given)  # type: ignore[arg-type]
    assert caught.value.argument == "integrated_account_id"


def test_the_pacing_scope_is_the_token_at_its_base_url() -> None:
    one = TrutoConfig(token=TOKEN, base_url="https://a.test")
    assert one.pacing_scope == f"https://a.test|{TOKEN}"
    assert TrutoConfig(token=TOKEN, base_url="https://b.test").pacing_scope != one.pacing_scope


@pytest.mark.parametrize(
    ("settings", "argument"),
    [
        ({"timeout": math.nan}, "timeout"),
        ({"timeout": math.inf}, "timeout"),
        ({"max_retries": math.inf}, "max_retries"),
        ({"max_retry_wait": math.nan}, "max_retry_wait"),
        ({"page_cap": 0}, "page_cap"),
    ],
)
def test_nan_or_infinite_numbers_in_the_config_are_named(settings: dict[str, Any], argument: str) -> None:
    with pytest.raises(TrutoInputError) as caught:
        TrutoConfig(token=TOKEN, **settings)
    assert caught.value.argument == argument


@pytest.mark.parametrize(
    "host", ["http://", "https://", "ftp://truto.example", "file:///etc/passwd", "http:///x"]
)
def test_a_base_url_without_host_or_of_another_scheme_is_named(
    monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    hostile_connection(monkeypatch, host)
    with pytest.raises(TrutoInputError) as caught:
        _ = TrutoHook("hostile").config
    assert caught.value.argument == "connection 'hostile': host"
    with pytest.raises(TrutoInputError) as caught:
        TrutoConfig(token=TOKEN, base_url=host)
    assert caught.value.argument == "base_url"
