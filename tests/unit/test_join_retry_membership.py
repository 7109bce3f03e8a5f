"""A retried batch reads which of its channels the bot is already in and re-sends only the others.

JoinChannelOperator called directly on the sandbox, with the try number a real Airflow would give; the same
path under ``airflow dags test`` is in tests/integration/test_join_retry_in_airflow.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from airflow_provider_truto.exceptions import TrutoError
from airflow_provider_truto.operators.instant_messaging import (
    CHANNELS_PER_MEMBERSHIP_PAGE,
    MEMBERSHIP_CHECK_MIN_CHANNELS,
    MEMBERSHIP_PAGE_SIZE,
    JoinChannelOperator,
)
from airflow_provider_truto.testing import Fault
from tests.conftest import ACCOUNT, connection_json

CHANNELS = "/unified/instant-messaging/channels"
JOIN = CHANNELS + "/join"


@dataclass
class FakeRun:
    dag_id: str = "d"
    run_id: str = "r1"


@dataclass
class FakeTi:
    try_number: int


def context_for(try_number: int) -> dict[str, Any]:
    return {"dag_run": FakeRun(), "ti": FakeTi(try_number)}


@pytest.fixture(autouse=True)
def connection(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_TRUTO_DEFAULT", connection_json(sandbox, max_retries=1))


def new_channels(sandbox: Any, count: int, prefix: str = "new") -> list[str]:
    return [sandbox.add_channel(ACCOUNT, name=f"{prefix}-{n}")["id"] for n in range(count)]


def joins_sent(sandbox: Any) -> list[str]:
    return [r.body["channel"]["id"] for r in sandbox.requests if r.method == "POST" and r.path == JOIN]


def list_requests(sandbox: Any) -> int:
    return sum(1 for r in sandbox.requests if r.method == "GET" and r.path == CHANNELS)


def first_try_fails_after(sandbox: Any, channels: list[str], joined: int) -> None:
    """A first try that joins ``joined`` channels, then meets an account-wide 400 and stops."""
    sandbox.inject("POST", JOIN, *[Fault.passthrough()] * joined, 400)
    with pytest.raises(TrutoError, match=f"{len(channels) - joined} of {len(channels)} channels"):
        JoinChannelOperator(task_id="j", channel_ids=channels).execute(context_for(1))
    assert sandbox.join_counts(ACCOUNT) == dict.fromkeys(channels[:joined], 1)
    sandbox.clear_requests()


def test_a_retry_resends_only_the_joins_an_earlier_try_did_not_get_through(
    sandbox: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    channels = new_channels(sandbox, 20)
    first_try_fails_after(sandbox, channels, joined=12)
    capsys.readouterr()

    outcomes = JoinChannelOperator(task_id="j", channel_ids=channels).execute(context_for(2))
    logged = capsys.readouterr().out  # the operator logs through Airflow's structlog, to stdout

    assert [(o["id"], o["outcome"]) for o in outcomes] == [(c, "joined") for c in channels]
    assert joins_sent(sandbox) == channels[12:]  # the 12 joined ones are not sent again
    assert list_requests(sandbox) == 1  # 80 channels in the workspace: one page
    assert sandbox.join_counts(ACCOUNT) == dict.fromkeys(channels, 1)
    assert "12 of 20 channels of account acct-1 were joined by an earlier try" in logged
    assert logged.count("by an earlier try") == 12 + 1


def test_a_first_try_lists_nothing(sandbox: Any) -> None:
    channels = new_channels(sandbox, MEMBERSHIP_CHECK_MIN_CHANNELS)
    JoinChannelOperator(task_id="j", channel_ids=channels).execute(context_for(1))
    assert list_requests(sandbox) == 0 and joins_sent(sandbox) == channels


def test_a_small_retried_batch_resends_its_keyed_joins_instead_of_listing(sandbox: Any) -> None:
    channels = new_channels(sandbox, MEMBERSHIP_CHECK_MIN_CHANNELS - 1)
    first_try_fails_after(sandbox, channels, joined=3)
    JoinChannelOperator(task_id="j", channel_ids=channels).execute(context_for(2))
    assert list_requests(sandbox) == 0
    assert joins_sent(sandbox) == channels  # the 3 repeats are answered from their idempotency keys
    assert sandbox.join_counts(ACCOUNT) == dict.fromkeys(channels, 1)
    assert sandbox.stats()["idempotent_replays"] == 3


def test_the_list_pass_stops_once_every_channel_of_the_batch_was_seen(sandbox: Any) -> None:
    early = new_channels(sandbox, MEMBERSHIP_CHECK_MIN_CHANNELS * 4, prefix="early")  # within the first page
    sandbox.seed_channels(ACCOUNT, 3 * MEMBERSHIP_PAGE_SIZE, seed=9)  # pages the pass need not read
    first_try_fails_after(sandbox, early, joined=10)
    JoinChannelOperator(task_id="j", channel_ids=early).execute(context_for(2))
    assert list_requests(sandbox) == 1
    assert joins_sent(sandbox) == early[10:]


def test_the_list_pass_costs_at_most_one_page_per_four_channels(sandbox: Any) -> None:
    # The batch's channels sit behind 3 pages of others: a batch of 8 may read 2 pages, then re-sends.
    sandbox.seed_channels(ACCOUNT, 3 * MEMBERSHIP_PAGE_SIZE, seed=9)
    late = new_channels(sandbox, MEMBERSHIP_CHECK_MIN_CHANNELS, prefix="late")
    first_try_fails_after(sandbox, late, joined=4)
    JoinChannelOperator(task_id="j", channel_ids=late).execute(context_for(2))
    assert list_requests(sandbox) == MEMBERSHIP_CHECK_MIN_CHANNELS // CHANNELS_PER_MEMBERSHIP_PAGE == 2
    assert joins_sent(sandbox) == late
    assert sandbox.join_counts(ACCOUNT) == dict.fromkeys(late, 1)


def test_a_list_that_cannot_be_read_means_every_join_is_resent(
    sandbox: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    channels = new_channels(sandbox, 10)
    first_try_fails_after(sandbox, channels, joined=6)
    sandbox.inject("GET", CHANNELS, 500, 500)  # the one try and the one retry of the list request
    outcomes = JoinChannelOperator(task_id="j", channel_ids=channels).execute(context_for(2))
    assert all(o["outcome"] == "joined" for o in outcomes)
    assert joins_sent(sandbox) == channels
    assert sandbox.join_counts(ACCOUNT) == dict.fromkeys(channels, 1)
    assert "re-sending every join" in capsys.readouterr().out


def test_each_account_of_a_retried_batch_is_listed_on_its_own(sandbox: Any) -> None:
    sandbox.add_account("acct-2")
    mine = new_channels(sandbox, 10)
    theirs = [sandbox.add_channel("acct-2", name=f"other-{n}")["id"] for n in range(3)]
    batch = [*mine, *({"id": c, "name": c, "integrated_account_id": "acct-2"} for c in theirs)]
    sandbox.inject("POST", JOIN, *[Fault.passthrough()] * 5, 400)
    with pytest.raises(TrutoError):
        JoinChannelOperator(task_id="j", channel_ids=batch).execute(context_for(1))
    sandbox.clear_requests()
    JoinChannelOperator(task_id="j", channel_ids=batch).execute(context_for(2))
    listed = [r.query["integrated_account_id"][0] for r in sandbox.requests if r.path == CHANNELS]
    assert listed == [ACCOUNT]  # acct-2 has too few channels in the batch to be worth a list pass
    assert sorted(joins_sent(sandbox)) == sorted(mine[5:] + theirs)
