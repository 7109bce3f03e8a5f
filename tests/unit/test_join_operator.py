"""JoinChannelOperator's own logic on the sandbox, called directly; the Airflow runs are in integration/."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_truto.compat import AirflowSkipException
from airflow_provider_truto.exceptions import TrutoBadRequestError, TrutoError, TrutoInputError
from airflow_provider_truto.operators.instant_messaging import JoinChannelOperator, join_idempotency_key
from airflow_provider_truto.testing import Fault
from tests.conftest import ACCOUNT, connection_json

JOIN = "/unified/instant-messaging/channels/join"


class FakeRun:
    dag_id = "d"
    run_id = "r1"


@pytest.fixture
def context(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("AIRFLOW_CONN_TRUTO_DEFAULT", connection_json(sandbox, max_retries=1))
    return {"dag_run": FakeRun()}


def test_skip_unjoinable_skips_instead_of_failing(sandbox: Any, context: dict[str, Any]) -> None:
    archived = sandbox.add_channel(ACCOUNT, name="old", status="archived")["id"]
    with pytest.raises(AirflowSkipException, match="is_archived"):
        JoinChannelOperator(task_id="j", channel_id=archived, skip_unjoinable=True).execute(context)
    with pytest.raises(TrutoBadRequestError):
        JoinChannelOperator(task_id="j2", channel_id=archived).execute(context)


def test_channel_object_is_accepted_and_labelled(sandbox: Any, context: dict[str, Any]) -> None:
    channel = sandbox.add_channel(ACCOUNT, name="from-sensor")
    answer = JoinChannelOperator(task_id="j", channel_id=channel).execute(context)
    assert answer["id"] == channel["id"] and context["truto_channel_label"] == "from-sensor"


def test_retried_task_sends_the_same_key_and_joins_once(sandbox: Any, context: dict[str, Any]) -> None:
    channel = sandbox.add_channel(ACCOUNT, name="retry-me")["id"]
    for _ in range(2):  # two tries of the same task in the same run
        JoinChannelOperator(task_id="j", channel_id=channel).execute(context)
    keys = {r.headers["idempotency-key"] for r in sandbox.requests if r.path == JOIN}
    assert keys == {join_idempotency_key(context, ACCOUNT, channel)}  # type: ignore[arg-type]
    assert sandbox.join_counts(ACCOUNT) == {channel: 1} and sandbox.stats()["idempotent_replays"] == 1


def test_batch_isolates_a_failing_account(sandbox: Any, context: dict[str, Any]) -> None:
    sandbox.add_account("acct-blocked", blocked=True)
    good = [sandbox.add_channel(ACCOUNT, name=f"ok-{n}")["id"] for n in range(3)]
    batch = [{"id": c, "name": c} for c in good] + [
        {"id": "CX1", "name": "b1", "integrated_account_id": "acct-blocked"},
        {"id": "CX2", "name": "b2", "integrated_account_id": "acct-blocked"},
    ]
    with pytest.raises(TrutoError, match="2 of 5 channels were not joined"):
        JoinChannelOperator(task_id="j", channel_ids=batch, max_concurrency=2).execute(context)
    assert sandbox.join_counts(ACCOUNT) == dict.fromkeys(good, 1)
    blocked_calls = [r for r in sandbox.requests if r.query.get("integrated_account_id") == ["acct-blocked"]]
    assert len(blocked_calls) == 1  # the account failed once; its second channel was not tried


def test_batch_stops_an_account_after_three_straight_failures(sandbox: Any, context: dict[str, Any]) -> None:
    channels = [sandbox.add_channel(ACCOUNT, name=f"c{n}")["id"] for n in range(6)]
    sandbox.inject("POST", JOIN, 500, repeat=True)
    with pytest.raises(TrutoError, match="6 of 6"):
        JoinChannelOperator(task_id="j", channel_ids=channels).execute(context)
    assert len([r for r in sandbox.requests if r.path == JOIN]) == 3 * 2  # 3 channels x (1 try + 1 retry)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({}, "channel_id"),
        ({"channel_id": "C1", "channel_ids": ["C2"]}, "channel_id"),
        ({"channel_id": "C1", "response_format": "xml"}, "response_format"),
        ({"channel_ids": ["C1"], "max_concurrency": 0}, "max_concurrency"),
    ],
)
def test_bad_arguments_fail_at_construction(kwargs: dict[str, Any], argument: str) -> None:
    with pytest.raises(TrutoInputError) as caught:
        JoinChannelOperator(task_id="bad", **kwargs)
    assert caught.value.argument == argument


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"channel_id": ""}, "channel_id"),
        ({"channel_id": {"name": "no id"}}, "channel_id"),
        ({"channel_ids": "C1"}, "channel_ids"),
        ({"channel_ids": ["C1", " "]}, "channel_ids[1]"),
        (
            {"channel_ids": [{"id": "C1", "integrated_account_id": ""}]},
            "channel_ids[0].integrated_account_id",
        ),
    ],
)
def test_bad_templated_values_fail_before_any_request(
    sandbox: Any, context: dict[str, Any], kwargs: dict[str, Any], argument: str
) -> None:
    with pytest.raises(TrutoInputError) as caught:
        JoinChannelOperator(task_id="bad", **kwargs).execute(context)
    assert caught.value.argument == argument and sandbox.requests == []


def test_fault_free_batch_returns_outcomes(sandbox: Any, context: dict[str, Any]) -> None:
    ok = sandbox.add_channel(ACCOUNT, name="fine")["id"]
    private = sandbox.add_channel(ACCOUNT, name="secret", type="private_channel")["id"]
    sandbox.inject("POST", JOIN, Fault.rate_limited("0"))
    outcomes = JoinChannelOperator(task_id="j", channel_ids=[ok, private]).execute(context)
    assert [(o["id"], o["outcome"], o["reason"]) for o in outcomes] == [
        (ok, "joined", None),
        (private, "skipped", "method_not_supported_for_channel_type"),
    ]
