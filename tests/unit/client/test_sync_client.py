"""TrutoClient (airflow_provider_truto/client.py) against the sandbox over real HTTP: the wire format,
idempotency keys, retries and their waits, one pooled session. What it shares with the async client is
tested on both in test_answers.py, test_pagination.py, test_deadline.py and test_network.py."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from airflow_provider_truto import __version__
from airflow_provider_truto.client.sync_client import TrutoClient
from airflow_provider_truto.exceptions import (
    TrutoAccountBlockedError,
    TrutoAuthError,
    TrutoBadRequestError,
    TrutoConnectionError,
    TrutoInputError,
    TrutoNotFoundError,
    TrutoRateLimitError,
    TrutoServerError,
)
from airflow_provider_truto.testing import Fault
from tests.support.helpers import ACCOUNT, CHANNELS, JOIN


def joinable(sandbox: Any, name: str = "new-channel") -> str:
    return str(sandbox.add_channel(ACCOUNT, name=name)["id"])


def test_join_wire_format(sandbox: Any, make_client: Any) -> None:
    client = make_client()
    channel_id = joinable(sandbox)
    answer = client.unified(
        "instant-messaging",
        "channels",
        "join",
        body={"channel": {"id": channel_id}, "remote_data": {"k": "v"}},
        query={"truto_exclude_fields": ["description", "group"], "remote_query": {"foo": "bar"}},
    )
    assert answer["id"] == channel_id and answer["is_member"] is True
    assert "description" not in answer and "group" not in answer
    request = sandbox.requests[-1]
    assert (request.method, request.path) == ("POST", JOIN)
    assert request.query == {
        "integrated_account_id": [ACCOUNT],
        "truto_exclude_fields[]": ["description", "group"],
        "remote_query[foo]": ["bar"],
    }
    assert request.body == {"channel": {"id": channel_id}, "remote_data": {"k": "v"}}
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == f"airflow-provider-truto/{__version__}"
    uuid.UUID(request.headers["idempotency-key"])  # a real key, new per call


def test_each_call_gets_a_new_idempotency_key(sandbox: Any, make_client: Any) -> None:
    client = make_client()
    for name in ("a", "b"):
        client.unified(
            "instant-messaging", "channels", "join", body={"channel": {"id": joinable(sandbox, name)}}
        )
    keys = [r.headers["idempotency-key"] for r in sandbox.requests]
    assert len(set(keys)) == 2


def test_retried_post_reuses_its_idempotency_key_and_acts_once(
    sandbox: Any, make_client: Any, sleeps: Any
) -> None:
    channel_id = joinable(sandbox)
    # The first attempt is applied but its answer is lost; the retry must not join a second time.
    sandbox.inject("POST", JOIN, Fault.reset_after(), 500)
    answer = make_client().unified(
        "instant-messaging", "channels", "join", body={"channel": {"id": channel_id}}
    )
    assert answer["is_member"] is True
    keys = {r.headers["idempotency-key"] for r in sandbox.requests}
    assert len(sandbox.requests) == 3 and len(keys) == 1
    assert sandbox.join_counts(ACCOUNT) == {channel_id: 1}
    assert sandbox.stats()["idempotent_replays"] == 1
    assert len(sleeps.waits) == 2


def test_gets_carry_no_idempotency_key(sandbox: Any, make_client: Any) -> None:
    make_client().unified("instant-messaging", "channels", "list")
    assert "idempotency-key" not in sandbox.requests[-1].headers


def test_pagination_follows_cursors_through_empty_pages(sandbox: Any, make_client: Any) -> None:
    sandbox.empty_pages = True
    items = list(make_client().list_unified("instant-messaging", "channels", limit=7))
    assert [c["id"] for c in items] == [c["id"] for c in sandbox.channels(ACCOUNT)]
    pages = [r for r in sandbox.requests if r.path == CHANNELS]
    assert len(pages) > 60 // 7 + 1  # the empty pages were fetched too
    assert all(r.query["limit"] == ["7"] for r in pages)
    assert "next_cursor" not in pages[0].query and all("next_cursor" in r.query for r in pages[1:])


def test_pagination_is_lazy(sandbox: Any, make_client: Any) -> None:
    pages = make_client().list_unified("instant-messaging", "channels", limit=10)
    first = [next(pages) for _ in range(10)]
    assert len(first) == 10 and len(sandbox.requests) == 1
    next(pages)
    assert len(sandbox.requests) == 2


def test_max_pages_stops_early(sandbox: Any, make_client: Any) -> None:
    items = list(make_client().list_unified("instant-messaging", "channels", limit=10, max_pages=2))
    assert len(items) == 20 and len(sandbox.requests) == 2


def test_custom_method_result_wrapper_is_unwrapped(sandbox: Any, make_client: Any) -> None:
    sandbox.wrap_custom_method_results = True
    channel_id = joinable(sandbox)
    answer = make_client().unified(
        "instant-messaging", "channels", "join", body={"channel": {"id": channel_id}}
    )
    assert answer["id"] == channel_id


@pytest.mark.parametrize("status", [408, 429, 500, 502, 504])
def test_transient_statuses_are_retried(sandbox: Any, make_client: Any, sleeps: Any, status: int) -> None:
    sandbox.inject("GET", CHANNELS, status, status)
    page = make_client().unified("instant-messaging", "channels", "list")
    assert page["result"] and len(sandbox.requests) == 3 and len(sleeps.waits) == 2


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (400, TrutoBadRequestError),
        (401, TrutoAuthError),
        (403, TrutoAuthError),
        (404, TrutoNotFoundError),
        (405, TrutoBadRequestError),
        (409, TrutoBadRequestError),
        (422, TrutoBadRequestError),
        (503, TrutoAccountBlockedError),
    ],
)
def test_permanent_statuses_are_not_retried(
    sandbox: Any, make_client: Any, sleeps: Any, status: int, error_type: type
) -> None:
    sandbox.inject("GET", CHANNELS, status)
    with pytest.raises(error_type) as caught:
        make_client().unified("instant-messaging", "channels", "list")
    assert caught.value.status_code == status
    assert len(sandbox.requests) == 1 and sleeps.waits == []


def test_retry_after_seconds_is_honoured(sandbox: Any, make_client: Any, sleeps: Any) -> None:
    sandbox.inject("GET", CHANNELS, Fault.rate_limited("7"))
    make_client().unified("instant-messaging", "channels", "list")
    assert sleeps.waits == [7.0]


def test_retry_after_http_date_is_honoured(sandbox: Any, make_client: Any, sleeps: Any) -> None:
    sandbox.inject("GET", CHANNELS, Fault.rate_limited("Wed, 21 Oct 2015 07:28:00 GMT"))
    make_client().unified("instant-messaging", "channels", "list")
    assert sleeps.waits == [0.0]  # a date in the past: go now


def test_a_single_wait_is_capped(sandbox: Any, make_client: Any, sleeps: Any) -> None:
    sandbox.inject("GET", CHANNELS, Fault.rate_limited("3600"))
    make_client(max_retry_wait=12.5).unified("instant-messaging", "channels", "list")
    assert sleeps.waits == [12.5]


def test_backoff_grows_and_gives_up_after_max_retries(sandbox: Any, make_client: Any, sleeps: Any) -> None:
    sandbox.inject("GET", CHANNELS, 500, repeat=True)
    with pytest.raises(TrutoServerError) as caught:
        make_client(max_retries=4).unified("instant-messaging", "channels", "list")
    assert caught.value.status_code == 500
    assert len(sandbox.requests) == 5 and len(sleeps.waits) == 4
    for attempt, wait in enumerate(sleeps.waits, start=1):
        step = min(30.0, 0.5 * 2 ** (attempt - 1))
        assert step / 2 <= wait <= step


def test_rate_limit_error_carries_retry_after(sandbox: Any, make_client: Any) -> None:
    sandbox.inject("GET", CHANNELS, Fault.rate_limited("9"), repeat=True)
    with pytest.raises(TrutoRateLimitError) as caught:
        make_client(max_retries=0).unified("instant-messaging", "channels", "list")
    assert caught.value.retry_after == 9.0


def test_connection_reset_and_timeout_are_retried(sandbox: Any, make_client: Any, sleeps: Any) -> None:
    sandbox.inject("GET", CHANNELS, Fault.reset(), Fault.delay(1.0))
    page = make_client(timeout=0.3).unified("instant-messaging", "channels", "list")
    assert page["result"] and len(sleeps.waits) == 2


def test_connection_refused_is_a_connection_error(make_client: Any) -> None:
    client = make_client(base_url="http://127.0.0.1:9", max_retries=1)
    with pytest.raises(TrutoConnectionError):
        client.unified("instant-messaging", "channels", "list")


def test_missing_account_is_named(sandbox: Any, make_client: Any) -> None:
    with pytest.raises(TrutoInputError) as caught:
        make_client(integrated_account_id=None).unified("instant-messaging", "channels", "list")
    assert caught.value.argument == "integrated_account_id" and sandbox.requests == []


def test_one_pooled_session_is_reused(sandbox: Any, make_client: Any) -> None:
    client: TrutoClient = make_client()
    session = client.session
    for _ in range(5):
        client.unified("instant-messaging", "channels", "list")
    pools = session.get_adapter(sandbox.url).poolmanager.pools  # type: ignore[attr-defined]
    assert client.session is session and len(pools) == 1
    pool = pools[next(iter(pools.keys()))]
    assert pool.num_connections == 1 and pool.num_requests == 5  # five calls, one keep-alive connection
