"""How the hook reads extras: names Airflow does not mask, empty means the default, only `off` is off."""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest

from airflow_provider_truto.client import (
    DEFAULT_ACCOUNT_RATE_LIMIT,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT_SECONDS,
    DEFAULT_TOKEN_RATE_LIMIT,
)
from airflow_provider_truto.exceptions import TrutoInputError
from airflow_provider_truto.get_provider_info import get_provider_info
from airflow_provider_truto.hooks.truto import CONNECTION_EXTRAS, TrutoHook
from airflow_provider_truto.ratelimit import RateLimit
from tests.conftest import TOKEN


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


def set_conn(monkeypatch: pytest.MonkeyPatch, **extra: Any) -> TrutoHook:
    monkeypatch.setenv(
        "AIRFLOW_CONN_EXTRAS", json.dumps({"conn_type": "truto", "password": TOKEN, "extra": extra})
    )
    return TrutoHook("extras")


@pytest.mark.parametrize("empty", [None, "", "  "])
def test_a_null_or_empty_extra_means_the_default(monkeypatch: pytest.MonkeyPatch, empty: Any) -> None:
    names = ("integrated_account_id", "timeout", "max_retries", "rate_limit", "environment_rate_limit")
    config = set_conn(monkeypatch, **dict.fromkeys(names, empty)).config
    assert config.integrated_account_id is None
    assert (config.timeout, config.max_retries) == (DEFAULT_TIMEOUT_SECONDS, DEFAULT_MAX_RETRIES)
    assert config.account_rate_limit == DEFAULT_ACCOUNT_RATE_LIMIT
    assert config.token_rate_limit == DEFAULT_TOKEN_RATE_LIMIT


@pytest.mark.parametrize("off", ["off", "OFF", " Off "])
def test_only_off_switches_pacing_off(monkeypatch: pytest.MonkeyPatch, off: str) -> None:
    config = set_conn(monkeypatch, rate_limit=off, environment_rate_limit=off).config
    assert config.account_rate_limit is None and config.token_rate_limit is None


@pytest.mark.parametrize("name", ["rate_limit", "environment_rate_limit", "token_rate_limit"])
@pytest.mark.parametrize("value", ["none", "None", "null", "disabled", "***", 50, True, ["50/10"]])
def test_an_unreadable_rate_limit_is_named_and_says_to_write_off(
    monkeypatch: pytest.MonkeyPatch, name: str, value: Any
) -> None:
    with pytest.raises(TrutoInputError) as caught:
        _ = set_conn(monkeypatch, **{name: value}).config
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
    hook = set_conn(monkeypatch, token_rate_limit="7/1")
    assert hook.config.token_rate_limit == RateLimit(7, 1.0)
    assert hook.config.token_rate_limit == RateLimit(7, 1.0)  # read once per hook
    [warning] = warnings_about_the_old_name(capfd, caplog)
    assert "deprecated" in warning and "rename it to 'environment_rate_limit'" in warning


def test_when_both_names_are_set_the_new_one_wins_and_the_warning_says_so(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    config = set_conn(monkeypatch, token_rate_limit="7/1", environment_rate_limit="9/1").config
    assert config.token_rate_limit == RateLimit(9, 1.0)
    [warning] = warnings_about_the_old_name(capfd, caplog)
    assert "'environment_rate_limit' is used" in warning


def test_an_empty_new_name_leaves_the_old_value_in_force(monkeypatch: pytest.MonkeyPatch) -> None:
    # A connection saved by the new form keeps an old hidden value; the empty new field means "not set".
    config = set_conn(monkeypatch, token_rate_limit="off", environment_rate_limit="").config
    assert config.token_rate_limit is None


def test_the_sandbox_connection_uses_the_new_name() -> None:
    from airflow_provider_truto.testing import TrutoSandbox

    with TrutoSandbox(TOKEN) as sandbox:
        extra = sandbox.airflow_connection()["extra"]
    assert "environment_rate_limit" in extra and "token_rate_limit" not in extra
