"""The operators' one idempotency-key scheme (airflow_provider_truto/operators/idempotency.py)."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_truto.operators.idempotency import task_idempotency_key
from airflow_provider_truto.operators.instant_messaging import JoinChannelOperator
from airflow_provider_truto.operators.unified import TrutoUnifiedApiOperator
from airflow_provider_truto.testing import TrutoSandbox
from tests.support.helpers import ACCOUNT, JOIN, connection_json, task_context


def test_the_same_task_instance_and_parts_give_the_same_key() -> None:
    assert task_idempotency_key(task_context("j"), "A", "join", "C1") == task_idempotency_key(
        task_context("j", try_number=2), "A", "join", "C1"
    )


@pytest.mark.parametrize(
    ("other", "parts"),
    [
        (task_context("k"), ("A", "join", "C1")),  # another task
        (task_context("j", map_index=3), ("A", "join", "C1")),  # another mapped instance
        (task_context("j"), ("B", "join", "C1")),  # another account
        (task_context("j"), ("A", "join", "C2")),  # another channel
    ],
)
def test_anything_else_gives_another_key(other: dict[str, Any], parts: tuple[str, ...]) -> None:
    assert task_idempotency_key(task_context("j"), "A", "join", "C1") != task_idempotency_key(other, *parts)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("acct|join", "join", "C1"), ("acct", "join", "join|C1")),  # ids that split around "|"
        (("A", "crm", "contacts|get", ""), ("A", "crm|contacts", "get", "")),  # a unified call's parts
    ],
)
def test_parts_that_read_alike_when_joined_give_different_keys(
    first: tuple[str, ...], second: tuple[str, ...]
) -> None:
    # Parts joined with "|" (the earlier scheme) made each pair one text, hence one key: the second
    # join would have received the first one's stored answer and never happened.
    context = task_context("j")
    assert task_idempotency_key(context, *first) != task_idempotency_key(context, *second)


def test_two_joins_whose_ids_split_around_a_bar_each_reach_truto(
    truto_sandbox_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox: TrutoSandbox = truto_sandbox_factory(token="tok-bar-0123456789")
    pairs = (("acct|join", "C1"), ("acct", "join|C1"))
    for account, channel in pairs:
        sandbox.add_account(account)
        sandbox.add_channel(account, id=channel, name=channel)
    monkeypatch.setenv("AIRFLOW_CONN_TRUTO_DEFAULT", connection_json(sandbox))
    context = task_context("j")
    for account, channel in pairs:
        JoinChannelOperator(task_id="j", channel_id=channel, integrated_account_id=account).execute(context)
    assert sandbox.join_counts("acct|join") == {"C1": 1} and sandbox.join_counts("acct") == {"join|C1": 1}
    assert len({r.headers["idempotency-key"] for r in sandbox.requests if r.path.startswith(JOIN)}) == 2


def test_the_unified_operator_keys_its_writes_with_the_same_scheme(
    sandbox: TrutoSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_TRUTO_DEFAULT", connection_json(sandbox))
    channel = sandbox.add_channel(ACCOUNT, name="keyed")["id"]
    context = task_context("u")
    operator = TrutoUnifiedApiOperator(
        task_id="u",
        model="instant-messaging",
        resource="channels",
        method="join",
        body={"channel": {"id": channel}},
        integrated_account_id=ACCOUNT,
    )
    operator.execute(context)
    [key] = {r.headers["idempotency-key"] for r in sandbox.requests if r.path.startswith(JOIN)}
    assert key == task_idempotency_key(context, ACCOUNT, "instant-messaging", "channels", "join", None)
