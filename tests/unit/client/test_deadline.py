"""The connection's timeout is a deadline for the whole answer (airflow_provider_truto/deadline.py for
requests, ``asyncio.timeout`` for httpx, a task of its own on Python 3.10): a server that trickles its
headers or body is cut off on time."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from airflow_provider_truto.client.async_client import within_deadline, within_deadline_by_task
from airflow_provider_truto.exceptions import (
    TrutoConnectionError,
)
from tests.support.helpers import assert_token_free
from tests.support.hostile_servers import (
    HostileServer,
    trickle_body,
    trickle_headers,
)


@pytest.mark.parametrize("behaviour", [trickle_body, trickle_headers])
def test_a_trickling_server_is_cut_off_at_the_deadline(unified: Any, behaviour: Any) -> None:
    with HostileServer(behaviour) as server:
        started = time.monotonic()
        with pytest.raises(TrutoConnectionError, match="no complete answer within 1s") as caught:
            unified(server.url, "instant-messaging", "channels", "list", settings={"timeout": 1.0})
        elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 1.8, elapsed  # the deadline, plus the watchdog's reaction: not 10 s
    assert_token_free(caught.value)


# The async deadline on Python 3.10 (a task of its own, no asyncio.timeout), run on every Python.
DEADLINES = [within_deadline, within_deadline_by_task]


@pytest.mark.parametrize("deadline", DEADLINES)
def test_the_async_deadline_returns_the_answer_or_raises_its_error(deadline: Any) -> None:
    async def answer() -> str:
        await asyncio.sleep(0.01)
        return "answer"

    async def refusal() -> str:
        await asyncio.sleep(0.01)
        raise ValueError("refused")

    assert asyncio.run(deadline(1.0, answer())) == "answer"
    with pytest.raises(ValueError, match="refused"):
        asyncio.run(deadline(1.0, refusal()))


@pytest.mark.parametrize("deadline", DEADLINES)
def test_the_async_deadline_cuts_the_work_off_and_lets_it_unwind(deadline: Any) -> None:
    unwound: list[float] = []

    async def hang() -> None:
        try:
            await asyncio.sleep(10)
        finally:
            unwound.append(time.monotonic())

    started = time.monotonic()
    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(deadline(0.2, hang()))
    assert 0.2 <= time.monotonic() - started < 1.0
    assert len(unwound) == 1  # cancelled and finished before the deadline's error reached the caller


@pytest.mark.parametrize("deadline", DEADLINES)
def test_a_cancellation_from_outside_stays_a_cancellation(deadline: Any) -> None:
    """A triggerer cancels a trigger at any moment, the deadline's included: the cancellation must reach
    the trigger as one, never turned into a timeout the trigger would retry, and the work ends too."""
    unwound: list[str] = []

    async def hang() -> None:
        try:
            await asyncio.sleep(10)
        finally:
            unwound.append("unwound")

    async def main(cancel_after: float) -> str:
        caller = asyncio.ensure_future(deadline(0.1, hang()))
        await asyncio.sleep(cancel_after)
        caller.cancel()
        try:
            await caller
        except asyncio.CancelledError:
            outcome = "cancelled"
        except asyncio.TimeoutError:
            outcome = "timed out"
        await asyncio.sleep(0.01)  # the work's own unwinding
        return outcome

    assert asyncio.run(main(0.02)) == "cancelled"  # well before the deadline
    assert unwound == ["unwound"]
    unwound.clear()
    asyncio.run(main(0.1))  # at it: whichever comes first wins, and the work ends either way
    assert unwound == ["unwound"]
