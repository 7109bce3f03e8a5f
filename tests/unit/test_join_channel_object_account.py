"""A channel object given as ``channel_id`` is joined in the account it names (the trigger's events do)."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_truto.operators.instant_messaging import JoinChannelOperator
from tests.conftest import connection_json

JOIN = "/unified/instant-messaging/channels/join"


class FakeRun:
    dag_id = "d"
    run_id = "r1"


def test_the_account_named_by_the_channel_object_wins(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_TRUTO_DEFAULT", connection_json(sandbox))  # default account: ACCOUNT
    sandbox.add_account("watched")
    channel = sandbox.add_channel("watched", name="from-an-event")
    event_channel = {"id": channel["id"], "name": channel["name"], "integrated_account_id": "watched"}

    answer = JoinChannelOperator(task_id="j", channel_id=event_channel).execute({"dag_run": FakeRun()})

    assert answer["id"] == channel["id"]
    assert sandbox.join_counts("watched") == {channel["id"]: 1}
    assert [r.query["integrated_account_id"] for r in sandbox.requests if r.path == JOIN] == [["watched"]]
