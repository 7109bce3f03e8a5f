"""The client tells its observer of every answer, every attempt without one and every wait, through both
transports alike: what the hook turns into Airflow metrics."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from airflow_provider_truto.client.observer import BACKOFF, PACING, RATE_LIMITED
from airflow_provider_truto.exceptions import TrutoConnectionError
from airflow_provider_truto.pacing.limits import RateLimit
from airflow_provider_truto.testing import Fault, TrutoSandbox
from tests.support.helpers import ACCOUNT, JOIN


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def answered(self, status_code: int) -> None:
        self.events.append(("answered", status_code))

    def unanswered(self) -> None:
        self.events.append(("unanswered",))

    def waited(self, seconds: float, *, reason: str) -> None:
        self.events.append(("waited", reason, seconds))


def test_answers_and_waits_are_told(sandbox: TrutoSandbox, unified: Any) -> None:
    channel = sandbox.add_channel(ACCOUNT, name="brand-new")["id"]
    sandbox.inject("POST", JOIN, 500, Fault.rate_limited("2"))
    observer = Recorder()
    unified(
        sandbox.url,
        "instant-messaging",
        "channels",
        "join",
        body={"channel": {"id": channel}},
        settings={"observer": observer, "max_retries": 3},
    )
    answers = [event[1] for event in observer.events if event[0] == "answered"]
    waits = [(event[1], event[2]) for event in observer.events if event[0] == "waited"]
    assert answers == [500, 429, 200]
    assert [reason for reason, _ in waits] == [BACKOFF, RATE_LIMITED]
    assert waits[1][1] == 2.0  # the 429's Retry-After


def test_pacing_waits_are_told(sandbox: TrutoSandbox, unified: Any, tmp_path: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("TRUTO_RATE_LIMIT_DIR", str(tmp_path))
    observer = Recorder()
    for _ in range(3):
        unified(
            sandbox.url,
            "instant-messaging",
            "channels",
            "list",
            settings={"observer": observer, "account_rate_limit": RateLimit(5, 1.0)},
        )
    paced = [event[2] for event in observer.events if event[:2] == ("waited", PACING)]
    assert len(paced) == 2 and all(0 < seconds <= 0.22 for seconds in paced)  # 5 a second: 1/4.75 s apart


def test_an_attempt_without_an_answer_is_told(unified: Any) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = "http://{}:{}".format(*probe.getsockname())
    observer = Recorder()
    with pytest.raises(TrutoConnectionError):
        unified(
            url, "instant-messaging", "channels", "list", settings={"observer": observer, "max_retries": 1}
        )
    assert [event[0] for event in observer.events] == ["unanswered", "waited", "unanswered"]
