"""The error tree (airflow_provider_truto/exceptions.py): one class per status, permanent errors that skip
Airflow's retries, errors that cross process boundaries, and the event payload a trigger sends them in."""

from __future__ import annotations

import json
import pickle

import pytest

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
    error_from_payload,
    error_payload,
)
from tests.support.helpers import TOKEN, AirflowFailException


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


@pytest.mark.parametrize(
    "error",
    [
        error_for_status(404, "gone", remote_error="channel_not_found", is_remote_error=True),
        TrutoInputError("integrated_account_id", "no account"),
        TrutoConnectionError("reset"),
        TrutoInvalidResponseError("not json"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_an_error_event_raises_the_same_kind_again(error: TrutoError) -> None:
    payload = error_payload(error, "acct")
    json.dumps(payload)  # an event payload is plain JSON
    again = error_from_payload(payload)
    assert type(again) is type(error) and again.message.endswith(error.message)
    assert (again.status_code, again.remote_error) == (error.status_code, error.remote_error)
    if isinstance(error, TrutoInputError):
        assert isinstance(again, TrutoInputError) and again.argument == error.argument


def test_an_airflow_error_with_a_status_is_not_truto_s() -> None:
    class MissingConnection(Exception):
        status_code = 404

    payload = error_payload(MissingConnection(f"conn 'x' isn't defined; token {TOKEN}"), None, token=TOKEN)
    assert payload["status_code"] is None and TOKEN not in payload["message"]
    payload["error_type"] = "AirflowNotFoundException"
    missing = error_from_payload(payload)
    assert isinstance(missing, TrutoInputError) and missing.argument == "truto_conn_id"
