"""AsyncTrutoClient against the sandbox over real HTTP: the sync client's calls, retries and errors, async.

The two clients share request preparation, answer decoding, the cursor walk, pacing and the retry policy;
these tests check that what goes on the wire, and what comes back, is the same from either.
"""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, TypeVar

import pytest

from airflow_provider_truto import __version__
from airflow_provider_truto.client.async_client import AsyncTrutoClient
from airflow_provider_truto.client.config import DEFAULT_MAX_RETRIES, TrutoConfig
from airflow_provider_truto.client.sync_client import TrutoClient
from airflow_provider_truto.exceptions import (
    TrutoAccountBlockedError,
    TrutoAuthError,
    TrutoBadRequestError,
    TrutoInputError,
    TrutoNotFoundError,
    TrutoServerError,
)
from airflow_provider_truto.testing import Fault, TrutoSandbox
from tests.support.helpers import ACCOUNT, CHANNELS, JOIN, AsyncSleepRecorder, client_config

T = TypeVar("T")


def config(sandbox: TrutoSandbox, **overrides: Any) -> TrutoConfig:
    """The sandbox's config with the default retries (the sync tests' ``make_client`` has the same)."""
    return client_config(sandbox.url, **{"max_retries": DEFAULT_MAX_RETRIES, **overrides})


def run(
    sandbox: TrutoSandbox,
    use: Callable[[AsyncTrutoClient], Coroutine[Any, Any, T]],
    sleeps: AsyncSleepRecorder | None = None,
    **overrides: Any,
) -> T:
    async def main() -> T:
        async with AsyncTrutoClient(
            config(sandbox, **overrides), sleep=sleeps or AsyncSleepRecorder()
        ) as client:
            return await use(client)

    return asyncio.run(main())


async def collect(items: AsyncIterator[dict[str, Any]]) -> list[dict[str, Any]]:
    return [item async for item in items]


def body(channel_id: str) -> dict[str, Any]:
    return {"channel": {"id": channel_id}}


def wire(request: Any) -> dict[str, Any]:
    """What a recorded request carried, minus what differs per call (the connection's own headers)."""
    headers = {name: request.headers.get(name) for name in ("accept", "user-agent", "content-type")}
    return {
        "method": request.method,
        "path": request.path,
        "query": request.query,
        "body": request.body,
        "headers": headers,
        "key": request.headers.get("idempotency-key"),
    }


def test_a_join_goes_out_exactly_as_the_sync_clients(sandbox: TrutoSandbox) -> None:
    first, second = (str(sandbox.add_channel(ACCOUNT, name=n)["id"]) for n in ("a", "b"))
    call: dict[str, Any] = {
        "query": {"truto_exclude_fields": ["description"], "remote_query": {"foo": "bar"}},
        "idempotency_key": "key-1",
    }
    with TrutoClient(config(sandbox)) as client:
        synced = client.unified(
            "instant-messaging", "channels", "join", body={"channel": {"id": first}}, **call
        )
    awaited = run(
        sandbox,
        lambda c: c.unified("instant-messaging", "channels", "join", body=body(first), **call),
    )
    assert awaited == synced and synced["id"] == first and synced["is_member"] is True
    sync_request, async_request = sandbox.requests
    assert wire(async_request) == wire(sync_request)
    assert async_request.headers["user-agent"] == f"airflow-provider-truto/{__version__}"
    assert async_request.headers["authorization"] == "<redacted>"  # the sandbox checked the bearer token

    # Without a key, each client makes one per call (a UUID), the same on each retry.
    run(
        sandbox,
        lambda c: c.unified("instant-messaging", "channels", "join", body={"channel": {"id": second}}),
    )
    uuid.UUID(sandbox.requests[-1].headers["idempotency-key"])


def test_a_retried_join_reuses_its_key_and_acts_once(sandbox: TrutoSandbox) -> None:
    channel_id = str(sandbox.add_channel(ACCOUNT, name="c")["id"])
    sandbox.inject("POST", JOIN, Fault.reset_after(), 500)
    sleeps = AsyncSleepRecorder()
    answer = run(
        sandbox,
        lambda c: c.unified("instant-messaging", "channels", "join", body={"channel": {"id": channel_id}}),
        sleeps,
    )
    assert answer["is_member"] is True
    assert len({r.headers["idempotency-key"] for r in sandbox.requests}) == 1 and len(sandbox.requests) == 3
    assert sandbox.join_counts(ACCOUNT) == {channel_id: 1} and len(sleeps.waits) == 2


def test_pagination_follows_cursors_through_empty_pages(sandbox: TrutoSandbox) -> None:
    sandbox.empty_pages = True
    items = run(sandbox, lambda c: collect(c.list_unified("instant-messaging", "channels", limit=7)))
    assert [c["id"] for c in items] == [c["id"] for c in sandbox.channels(ACCOUNT)]
    pages = [r for r in sandbox.requests if r.path == CHANNELS]
    assert len(pages) > 60 // 7 + 1 and all(r.query["limit"] == ["7"] for r in pages)
    assert "next_cursor" not in pages[0].query and all("next_cursor" in r.query for r in pages[1:])


def test_max_pages_stops_early_and_the_generic_walk_lists_accounts(sandbox: TrutoSandbox) -> None:
    items = run(
        sandbox, lambda c: collect(c.list_unified("instant-messaging", "channels", limit=10, max_pages=2))
    )
    assert len(items) == 20 and len(sandbox.requests) == 2
    accounts = run(sandbox, lambda c: collect(c.paginate("/integrated-account", limit=1)))
    assert [a["id"] for a in accounts] == [ACCOUNT]


def test_retries_wait_for_retry_after_then_the_backoff(sandbox: TrutoSandbox) -> None:
    sandbox.inject("GET", CHANNELS, Fault.rate_limited("7"), 500)
    sleeps = AsyncSleepRecorder()
    page = run(sandbox, lambda c: c.unified("instant-messaging", "channels", "list"), sleeps)
    assert page["result"] and [r.status for r in sandbox.requests] == [429, 500, 200]
    assert sleeps.waits[0] == 7.0 and 0.5 <= sleeps.waits[1] <= 1.0


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (400, TrutoBadRequestError),
        (401, TrutoAuthError),
        (404, TrutoNotFoundError),
        (503, TrutoAccountBlockedError),
    ],
)
def test_permanent_statuses_are_typed_and_not_retried(
    sandbox: TrutoSandbox, status: int, error_type: type[Exception]
) -> None:
    sandbox.inject("GET", CHANNELS, status)
    sleeps = AsyncSleepRecorder()
    with pytest.raises(error_type) as caught:
        run(sandbox, lambda c: c.unified("instant-messaging", "channels", "list"), sleeps)
    assert getattr(caught.value, "status_code", None) == status
    assert len(sandbox.requests) == 1 and sleeps.waits == []


def test_giving_up_raises_the_last_error(sandbox: TrutoSandbox) -> None:
    sandbox.inject("GET", CHANNELS, 500, repeat=True)
    with pytest.raises(TrutoServerError):
        run(sandbox, lambda c: c.unified("instant-messaging", "channels", "list"), max_retries=2)
    assert len(sandbox.requests) == 3


def test_a_custom_methods_result_wrapper_is_unwrapped(sandbox: TrutoSandbox) -> None:
    sandbox.wrap_custom_method_results = True
    channel_id = str(sandbox.add_channel(ACCOUNT, name="wrapped")["id"])
    answer = run(
        sandbox,
        lambda c: c.unified("instant-messaging", "channels", "join", body={"channel": {"id": channel_id}}),
    )
    assert answer["id"] == channel_id


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda c: c.unified("instant-messaging", "a/b"), "resource"),
        (lambda c: c.unified("instant-messaging", "channels", "get", resource_id=".."), "resource_id"),
        (
            lambda c: c.unified("instant-messaging", "channels", integrated_account_id=" "),
            "integrated_account_id",
        ),
        (lambda c: c.request("POST", "/x", body={"n": float("nan")}), "body"),
        (lambda c: collect(c.paginate("/integrated-account", limit=0)), "limit"),
    ],
)
def test_bad_input_is_named_before_any_request(sandbox: TrutoSandbox, call: Any, argument: str) -> None:
    async def attempt(client: AsyncTrutoClient) -> None:
        outcome = call(client)
        if inspect.isawaitable(outcome):
            await outcome

    with pytest.raises(TrutoInputError) as caught:
        run(sandbox, attempt)
    assert caught.value.argument == argument and sandbox.requests == []


def test_the_signatures_are_the_sync_clients() -> None:
    """Each call is spelled once (request.ApiCall, UnifiedCall, UnifiedList); help() shows its arguments."""
    for name in ("request", "unified", "list_unified"):
        assert parameters(AsyncTrutoClient, name) == parameters(TrutoClient, name), name
    assert list(inspect.signature(AsyncTrutoClient.unified).parameters) == [
        "self", "model", "resource", "method", "resource_id", "integrated_account_id", "query", "body",
        "idempotency_key",
    ]  # fmt: skip
    for name in ("paginate", "walk_unified", "call_unified"):
        assert parameters(AsyncTrutoClient, name) == parameters(TrutoClient, name), name


def parameters(owner: type, name: str) -> list[inspect.Parameter]:
    return list(inspect.signature(getattr(owner, name)).parameters.values())
