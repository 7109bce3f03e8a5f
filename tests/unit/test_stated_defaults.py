"""Every text that states a default or the retried statuses, held against the one owner of the fact.

The owners: :mod:`airflow_provider_truto.client.config` (the connection's defaults),
:mod:`airflow_provider_truto.client.retry` (the retried statuses) and
:mod:`airflow_provider_truto.webhooks.delivery` (the webhooks' replay window and size cap). The texts:
the connection form's descriptions (``get_provider_info``, a plain dict Airflow reads without importing
the package) and the user docs. A default changed without its texts fails here.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from airflow_provider_truto.client.config import (
    DEFAULT_ACCOUNT_RATE_LIMIT,
    DEFAULT_BASE_URL,
    DEFAULT_ENVIRONMENT_RATE_LIMIT,
    DEFAULT_MAX_RESPONSE_MB,
    DEFAULT_MAX_RETRIES,
    DEFAULT_PAGE_CAP,
    DEFAULT_TIMEOUT_SECONDS,
)
from airflow_provider_truto.client.retry import RETRYABLE_STATUSES
from airflow_provider_truto.hooks.connection_type import CONNECTION_EXTRAS, connection_type_info
from tests.support.helpers import REPO

DOCS = REPO / "docs"


def statuses(text: str) -> set[int]:
    return {int(number) for number in re.findall(r"\b[1-5]\d\d\b", text)}


def doc_row(page: str, starts: str) -> str:
    """The one table row of ``docs/<page>`` that starts with ``starts``."""
    [row] = [line for line in (DOCS / page).read_text().splitlines() if line.startswith(starts)]
    return row


FORM_DEFAULTS = {
    "timeout": f"Empty: {DEFAULT_TIMEOUT_SECONDS:g} seconds.",
    "max_retries": f"Empty: {DEFAULT_MAX_RETRIES}.",
    "rate_limit": f"Empty: {DEFAULT_ACCOUNT_RATE_LIMIT} (Truto's limit).",
    "environment_rate_limit": f"Empty: {DEFAULT_ENVIRONMENT_RATE_LIMIT} (Truto's limit).",
    "page_cap": f"Empty: {DEFAULT_PAGE_CAP}.",
    "max_response_mb": f"Empty: {DEFAULT_MAX_RESPONSE_MB:g}.",
}


@pytest.mark.parametrize("extra", sorted(FORM_DEFAULTS))
def test_the_form_says_what_an_empty_field_means(extra: str) -> None:
    assert FORM_DEFAULTS[extra] in connection_type_info()["conn-fields"][extra]["description"]


def test_the_form_names_the_retried_statuses_and_the_default_host() -> None:
    info = connection_type_info()
    retried = info["conn-fields"]["max_retries"]["description"].split("Empty:")[0]
    assert statuses(retried) == RETRYABLE_STATUSES
    assert info["ui-field-behaviour"]["placeholders"]["host"] == DEFAULT_BASE_URL


def test_the_hook_reads_the_forms_fields() -> None:
    assert set(CONNECTION_EXTRAS) == set(FORM_DEFAULTS) | {
        "integrated_account_id",
        "rate_limit_redis_conn_id",
    }


def test_the_connection_page_states_the_defaults() -> None:
    page = "connection.md"
    assert f"{DEFAULT_TIMEOUT_SECONDS:g} seconds" in doc_row(page, "| Timeout (seconds)")
    max_retries = doc_row(page, "| Max retries")
    assert (
        f"| {DEFAULT_MAX_RETRIES} retries of" in max_retries and statuses(max_retries) == RETRYABLE_STATUSES
    )
    assert f"`{DEFAULT_ACCOUNT_RATE_LIMIT}`" in doc_row(page, "| Per-account rate limit")
    assert f"`{DEFAULT_ENVIRONMENT_RATE_LIMIT}`" in doc_row(page, "| Per-environment rate limit")
    assert f"| {DEFAULT_PAGE_CAP} pages" in doc_row(page, "| Page cap")
    assert f"| {DEFAULT_MAX_RESPONSE_MB:g} MB" in doc_row(page, "| Max response size (MB)")
    assert f"`{DEFAULT_BASE_URL}`" in doc_row(page, "| Base URL | host")
    assert f"Default {DEFAULT_TIMEOUT_SECONDS:g}." in doc_row(page, "| `timeout` (extra)")
    assert f"Default {DEFAULT_MAX_RETRIES}." in doc_row(page, "| `max_retries` (extra)")
    assert f"Default `{DEFAULT_ACCOUNT_RATE_LIMIT}`" in doc_row(page, "| `rate_limit` (extra)")
    assert f"Default `{DEFAULT_ENVIRONMENT_RATE_LIMIT}`" in doc_row(
        page, "| `environment_rate_limit` (extra)"
    )
    assert f"Default {DEFAULT_PAGE_CAP}." in doc_row(page, "| `page_cap` (extra)")
    assert f"Default {DEFAULT_MAX_RESPONSE_MB:g}." in doc_row(page, "| `max_response_mb` (extra)")


def test_the_errors_page_states_the_retry_policy() -> None:
    [retried] = [
        line for line in (DOCS / "errors-and-retries.md").read_text().splitlines() if "- Retried:" in line
    ]
    assert statuses(retried.split("Never:")[0]) == RETRYABLE_STATUSES
    [server_errors] = [
        line
        for line in (DOCS / "errors-and-retries.md").read_text().splitlines()
        if "TrutoServerError" in line and "5xx" in line
    ]
    assert statuses(server_errors.split("5xx")[1]) == {s for s in RETRYABLE_STATUSES if s >= 500}
    text = (DOCS / "errors-and-retries.md").read_text()
    assert f"(default {DEFAULT_MAX_RETRIES})" in text and f"(default {DEFAULT_TIMEOUT_SECONDS:g} s)" in text


def test_the_bounds_table_states_the_defaults() -> None:
    page = "reliability-and-security.md"
    assert f"| {DEFAULT_PAGE_CAP:,} |" in doc_row(page, "| pages of one list walk")
    assert f"| {DEFAULT_MAX_RESPONSE_MB:g} MB" in doc_row(page, "| size of one answer")
    assert f"`timeout`, {DEFAULT_TIMEOUT_SECONDS:g} s" in doc_row(page, "| time for one attempt")


def test_the_webhook_pages_state_the_replay_window_the_size_cap_and_the_look_back() -> None:
    from airflow_provider_truto.webhooks.delivery import MAX_AGE, MAX_AHEAD, MAX_BODY_BYTES, SEEN_FOR

    def minutes(span: Any) -> int:
        return int(span.total_seconds() // 60)

    webhooks = " ".join((DOCS / "webhooks.md").read_text().split())
    assert f"more than {minutes(MAX_AGE)} minutes old, or more than {minutes(MAX_AHEAD)} minutes" in webhooks
    assert f"a body over {MAX_BODY_BYTES:,} bytes" in webhooks
    assert f"in the last {minutes(SEEN_FOR)} minutes" in webhooks
    reliability = " ".join((DOCS / "reliability-and-security.md").read_text().split())
    assert f"more than {minutes(MAX_AGE)} minutes old or {minutes(MAX_AHEAD)} minutes ahead" in reliability
