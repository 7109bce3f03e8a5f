"""The sandbox's 429 can carry Truto's own fixed ``Retry-After: 10`` (benchmarks at Truto's real limits)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from airflow_provider_truto.testing import TrutoSandbox
from airflow_provider_truto.testing.__main__ import build_parser

CHANNELS = "/unified/instant-messaging/channels"


@pytest.mark.parametrize(("retry_after", "expected"), [(10, "10"), (None, "60")])
def test_the_limits_429_carries_the_configured_retry_after(
    truto_sandbox_factory: Any, retry_after: int | None, expected: str
) -> None:
    sandbox: TrutoSandbox = truto_sandbox_factory(
        account_rate_limit=(2, 60.0), rate_limit_retry_after=retry_after
    )
    sandbox.add_account("acct")
    answers = [
        requests.get(
            sandbox.url + CHANNELS,
            params={"integrated_account_id": "acct"},
            headers={"Authorization": f"Bearer {sandbox.token}"},
            timeout=5,
        )
        for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].headers["Retry-After"] == expected  # by default: when the window has room


def test_the_cli_takes_retry_after() -> None:
    assert build_parser().parse_args(["--retry-after", "10"]).retry_after == 10
    assert build_parser().parse_args([]).retry_after is None
