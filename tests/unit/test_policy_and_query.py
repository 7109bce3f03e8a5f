"""Pure pieces: query encoding, the retry decision and backoff, the error tree."""

from __future__ import annotations

import pickle
from datetime import datetime, timezone

import pytest

from airflow_provider_truto.compat import AirflowFailException
from airflow_provider_truto.exceptions import (
    TrutoAccountBlockedError,
    TrutoAuthError,
    TrutoBadRequestError,
    TrutoConnectionError,
    TrutoError,
    TrutoHTTPError,
    TrutoInputError,
    TrutoInvalidResponseError,
    TrutoNotFoundError,
    TrutoRateLimitError,
    TrutoServerError,
    error_for_status,
)
from airflow_provider_truto.query import encode_query
from airflow_provider_truto.retry import backoff_seconds, is_retryable, wait_seconds


def test_encode_query_follows_truto_conventions() -> None:
    assert encode_query(
        {
            "integrated_account_id": "a",
            "truto_exclude_fields": ["x", "y"],
            "remote_query": {"foo": "bar", "n": 2},
            "workspace": {"id": "W1"},
            "truto_ignore_remote_data": True,
            "flag": False,
            "created_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
            "skipped": None,
        }
    ) == [
        ("integrated_account_id", "a"),
        ("truto_exclude_fields[]", "x"),
        ("truto_exclude_fields[]", "y"),
        ("remote_query[foo]", "bar"),
        ("remote_query[n]", "2"),
        ("workspace[id]", "W1"),
        ("truto_ignore_remote_data", "true"),
        ("flag", "false"),
        ("created_at", "2026-01-02T03:04:05Z"),
    ]
    assert encode_query({"a": {"b": {"c": 1}}}) == [("a[b][c]", "1")]
    with pytest.raises(TypeError):
        encode_query({"a": [[1]]})


@pytest.mark.parametrize("status", [408, 429, 500, 502, 504])
def test_transient_statuses_are_retryable(status: int) -> None:
    assert is_retryable(error_for_status(status, "x"))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 409, 422, 503])
def test_permanent_statuses_are_not(status: int) -> None:
    assert not is_retryable(error_for_status(status, "x"))


def test_connection_errors_are_retryable_bad_input_is_not() -> None:
    assert is_retryable(TrutoConnectionError("reset"))
    assert not is_retryable(TrutoInputError("x", "bad"))
    assert not is_retryable(TrutoInvalidResponseError("not json"))
    assert not is_retryable(ValueError("other"))


def test_backoff_is_capped_exponential_with_jitter() -> None:
    assert [backoff_seconds(n, jitter=lambda: 0.0) for n in (1, 2, 3, 4)] == [0.25, 0.5, 1.0, 2.0]
    assert [backoff_seconds(n, jitter=lambda: 1.0) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]
    assert backoff_seconds(30, jitter=lambda: 1.0) == 30.0


def test_wait_prefers_retry_after_and_caps_it() -> None:
    assert wait_seconds(error_for_status(429, "x", retry_after=4.0), 1, max_wait=60) == 4.0
    assert wait_seconds(error_for_status(429, "x", retry_after=400.0), 1, max_wait=60) == 60.0
    assert 0.25 <= wait_seconds(error_for_status(500, "x"), 1, max_wait=60) <= 0.5


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, TrutoBadRequestError),
        (401, TrutoAuthError),
        (403, TrutoAuthError),
        (404, TrutoNotFoundError),
        (418, TrutoHTTPError),
        (429, TrutoRateLimitError),
        (500, TrutoServerError),
        (503, TrutoAccountBlockedError),
        (599, TrutoServerError),
    ],
)
def test_status_maps_to_one_class(status: int, cls: type) -> None:
    error = error_for_status(status, "msg", remote_error="is_archived", body="x" * 2000)
    assert type(error) is cls and isinstance(error, TrutoError)
    assert error.status_code == status and error.remote_error == "is_archived"
    assert error.body is not None and len(error.body) == 500


def test_permanent_errors_skip_airflow_retries() -> None:
    for status in (400, 401, 404, 503):
        assert isinstance(error_for_status(status, "x"), AirflowFailException)
    assert isinstance(TrutoInputError("a", "b"), AirflowFailException)
    for status in (429, 500, 502):
        assert not isinstance(error_for_status(status, "x"), AirflowFailException)


def test_errors_survive_pickling_with_their_attributes() -> None:
    error = error_for_status(
        429, "slow down", retry_after=3.0, remote_error="ratelimited", is_remote_error=True
    )
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is TrutoRateLimitError and str(clone) == str(error)
    assert (clone.status_code, clone.retry_after, clone.remote_error) == (429, 3.0, "ratelimited")
