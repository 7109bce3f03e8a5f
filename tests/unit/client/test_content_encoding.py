"""Compressed answers (airflow_provider_truto/client/content_encoding.py) read by both transports, over real
sockets: gzip, deflate with and without its zlib wrapper, stacked codings, a coding not asked for, a
corrupt body, and a compression bomb, refused once its decoded size passes the cap: memory stays
bounded and the trigger's event loop keeps running."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import textwrap
import zlib
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_truto.exceptions import TrutoInvalidResponseError
from tests.support.helpers import REPO, TRANSPORTS
from tests.support.hostile_servers import HostileServer, encoded_reply, page

Call = Callable[..., Any]
PAGE = json.dumps(page([{"id": "C1", "name": "general"}], None)).encode()


def raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        ("gzip", gzip.compress(PAGE)),
        ("x-gzip", gzip.compress(PAGE[:20]) + gzip.compress(PAGE[20:])),  # two gzip members
        ("deflate", zlib.compress(PAGE)),
        ("deflate", raw_deflate(PAGE)),  # deflate without the zlib wrapper, as some servers send it
        ("gzip, deflate", zlib.compress(gzip.compress(PAGE))),
        ("identity", PAGE),
    ],
    ids=["gzip", "two-gzip-members", "zlib-deflate", "raw-deflate", "stacked", "identity"],
)
def test_compressed_answers_are_read(unified: Call, encoding: str, body: bytes) -> None:
    with HostileServer(encoded_reply(body, encoding)) as server:
        answer = unified(server.url, "instant-messaging", "channels", "list")
    assert answer == json.loads(PAGE)
    assert server.requests[0].headers["accept-encoding"] == "gzip, deflate"


@pytest.mark.parametrize(
    ("encoding", "body", "problem"),
    [
        ("br", b"\x0b\x02\x80{}\x03", "a Content-Encoding of br, which was not asked for"),
        ("gzip", b"not gzip at all", "a body that is not valid gzip"),
    ],
    ids=["not-asked-for", "corrupt"],
)
def test_an_answer_that_cannot_be_decoded_is_a_permanent_typed_error(
    unified: Call, encoding: str, body: bytes, problem: str
) -> None:
    with (
        HostileServer(encoded_reply(body, encoding)) as server,
        pytest.raises(TrutoInvalidResponseError) as e,
    ):
        unified(server.url, "instant-messaging", "channels", "list", settings={"max_retries": 3})
    assert problem in str(e.value) and len(server.requests) == 1  # not retried


# Runs in a process of its own, so its peak RSS is the bomb's alone: a server on 127.0.0.1 answers
# every request with 2.5 KB that `Content-Encoding: gzip, gzip` expands to 1 GiB.
BOMB_PROBE = textwrap.dedent(
    """
    import asyncio, json, resource, sys, time
    from airflow_provider_truto.exceptions import TrutoInvalidResponseError
    from tests.support.helpers import call_through
    from tests.support.hostile_servers import HostileServer, encoded_reply, gzip_bomb, page, one_page

    transport = sys.argv[1]

    def peak_kib():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def listing(client):
        return client.unified("instant-messaging", "channels", "list")

    marks = []  # when the event loop let a 10 ms ticker run

    async def ticking(use):
        async def tick():
            while True:
                await asyncio.sleep(0.01)
                marks.append(time.monotonic())
        marks.append(time.monotonic())
        ticker = asyncio.ensure_future(tick())
        try:
            return await use
        finally:
            marks.append(time.monotonic())
            ticker.cancel()

    def stall():
        return max((b - a for a, b in zip(marks, marks[1:])), default=0.0)

    def use(client):
        outcome = listing(client)
        return ticking(outcome) if transport == "httpx" else outcome

    settings = {"max_retries": 3}
    bomb = gzip_bomb()
    with HostileServer(one_page) as warm_up:  # the transport's own allocations before the baseline
        call_through(transport, warm_up.url, use, settings)
    marks.clear()
    before = peak_kib()
    with HostileServer(encoded_reply(bomb, "gzip, gzip")) as server:
        started = time.monotonic()
        try:
            call_through(transport, server.url, use, settings)
            error = None
        except TrutoInvalidResponseError as refused:
            error = str(refused)
        elapsed = time.monotonic() - started
    print(json.dumps({
        "error": error, "requests": len(server.requests), "bomb_bytes": len(bomb),
        "rss_growth_mb": (peak_kib() - before) / 1024, "stall_s": stall(), "elapsed_s": elapsed,
    }))
    """
)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_compression_bomb_is_refused_with_bounded_memory(transport: str) -> None:
    """Before, httpx inflated the whole GiB (3.2 GB in a triggerer, its loop blocked over 10 s) and the
    timeout that followed was retried, inflating it again."""
    probe = subprocess.run(
        [sys.executable, "-c", BOMB_PROBE, transport],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    figures = json.loads(probe.stdout.strip().splitlines()[-1])
    print(transport, figures)  # the figures the docs quote
    assert figures["bomb_bytes"] < 4096
    # A permanent, typed refusal after the 50 MB cap, decoded: asked once, never again.
    assert figures["error"] and "once decoded (Content-Encoding: gzip, gzip)" in figures["error"]
    assert "over the cap of 50 MB" in figures["error"] and figures["requests"] == 1
    # Generous bounds: the cap (50 MB) and some, against the GiB a whole decode takes.
    assert figures["rss_growth_mb"] < 250, figures
    assert figures["stall_s"] < 2.0, figures
