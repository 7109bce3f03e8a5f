"""The one retry policy (airflow_provider_truto/retry.py): which failures are worth another attempt, how
long to wait (Retry-After, else a capped, jittered backoff)."""

from __future__ import annotations

import socket

import pytest

from airflow_provider_truto.client.config import TrutoConfig
from airflow_provider_truto.client.response import parse_retry_after
from airflow_provider_truto.client.retry import (
    BACKOFF_BASE_SECONDS,
    backoff_seconds,
    is_retryable,
    wait_seconds,
)
from airflow_provider_truto.client.sync_client import TrutoClient
from airflow_provider_truto.exceptions import (
    TrutoConnectionError,
    TrutoInputError,
    TrutoInvalidResponseError,
    error_for_status,
)
from tests.support.helpers import ACCOUNT, TOKEN
from tests.support.hostile_servers import (
    HostileServer,
    Request,
    json_reply,
    one_page,
)


@pytest.mark.parametrize("retry_after", ["NaN", "-5", "inf", "-inf"])
def test_an_unreadable_retry_after_falls_back_to_the_backoff(retry_after: str) -> None:
    answers = iter([429, 200])

    def limited(request: Request, sock: socket.socket) -> None:
        if next(answers) == 429:
            json_reply(sock, 429, {"statusCode": 429, "message": "slow down"}, {"Retry-After": retry_after})
        else:
            one_page(request, sock)

    waits: list[float] = []
    with HostileServer(limited) as server:
        config = TrutoConfig(
            token=TOKEN, base_url=server.url, integrated_account_id=ACCOUNT, max_retries=1,
            account_rate_limit=None, environment_rate_limit=None,
        )  # fmt: skip
        with TrutoClient(config, sleep=waits.append) as client:
            client.unified("instant-messaging", "channels", "list")
    [wait] = waits
    assert BACKOFF_BASE_SECONDS / 2 <= wait <= BACKOFF_BASE_SECONDS  # the first backoff step, not 0
    assert parse_retry_after(retry_after) is None


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
