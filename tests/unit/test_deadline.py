"""The connection's timeout is a deadline for the whole answer (airflow_provider_truto/deadline.py for
requests, ``asyncio.timeout`` for httpx): a server that trickles its headers or body is cut off on time."""

from __future__ import annotations

import time
from typing import Any

import pytest

from airflow_provider_truto.exceptions import (
    TrutoConnectionError,
)
from tests.hostile_servers import (
    HostileServer,
    trickle_body,
    trickle_headers,
)
from tests.support import assert_token_free


@pytest.mark.parametrize("behaviour", [trickle_body, trickle_headers])
def test_a_trickling_server_is_cut_off_at_the_deadline(unified: Any, behaviour: Any) -> None:
    with HostileServer(behaviour) as server:
        started = time.monotonic()
        with pytest.raises(TrutoConnectionError, match="no complete answer within 1s") as caught:
            unified(server.url, "instant-messaging", "channels", "list", settings={"timeout": 1.0})
        elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 1.8, elapsed  # the deadline, plus the watchdog's reaction: not 10 s
    assert_token_free(caught.value)
