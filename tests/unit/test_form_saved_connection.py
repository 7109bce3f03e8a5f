"""A connection saved from the untouched form reads as the form's descriptions say.

Airflow's form saves every extra field it shows, the untouched ones as ``null`` (the browser test checks
that shape: ``tests/browser``). Each description says what empty means; the hook must read it so.
"""

from __future__ import annotations

import json

import pytest

from airflow_provider_truto.client import (
    DEFAULT_ACCOUNT_RATE_LIMIT,
    DEFAULT_MAX_RESPONSE_MB,
    DEFAULT_MAX_RETRIES,
    DEFAULT_PAGE_CAP,
    DEFAULT_TIMEOUT_SECONDS,
    DEFAULT_TOKEN_RATE_LIMIT,
)
from airflow_provider_truto.hooks.form import connection_type_info
from airflow_provider_truto.hooks.truto import TrutoHook
from tests.conftest import ACCOUNT, TOKEN


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
