"""auto_join/webhook_events.py, the webhook DAGs' logic: the receiver's asset events read back, each
workspace and channel once; the auto-join planned for connected workspaces and created channels checked
again, on the sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from airflow_provider_truto.auto_join.policy import AutoJoinPolicy
from airflow_provider_truto.auto_join.webhook_events import (
    connected_workspaces,
    created_channels,
    plan_workspace_joins,
    select_created_channels,
)
from airflow_provider_truto.hooks.truto import TrutoHook
from airflow_provider_truto.testing import TrutoSandbox
from tests.support.helpers import connection_json


@dataclass
class Event:
    """What a task sees of an asset event: its extra (and more it does not read)."""

    extra: Any = field(default_factory=dict)


def workspace(conn: str, account: str, event_id: str) -> Event:
    return Event({"truto_event_id": event_id, "truto_conn_id": conn, "integrated_account_id": account})


def channel(conn: str, account: str, channel_id: str, event_id: str, name: str = "") -> Event:
    extra = workspace(conn, account, event_id).extra
    extra["channel"] = {"id": channel_id, "name": name or channel_id.lower()}
    return Event(extra)


def test_workspaces_each_once_per_connection_in_event_order() -> None:
    events = [
        workspace("c1", "A", "e1"),
        workspace("c2", "B", "e2"),
        workspace("c1", "A", "e3"),  # :created then :active of one workspace
        workspace("c1", "C", "e4"),
        Event({"someone": "else's event"}),  # recorded on the asset by something other than the receiver
        Event(None),
    ]
    assert connected_workspaces(events) == {"c1": ["A", "C"], "c2": ["B"]}


def test_created_channels_each_once() -> None:
    events = [
        channel("c1", "A", "C1", "e1", "eng-one"),
        channel("c1", "A", "C1", "e2"),
        channel("c1", "B", "C1", "e3"),  # the same id in another workspace is another channel
        workspace("c1", "A", "e4"),  # no channel: passed over
    ]
    assert created_channels(events) == [
        {"truto_conn_id": "c1", "integrated_account_id": "A", "id": "C1", "name": "eng-one"},
        {"truto_conn_id": "c1", "integrated_account_id": "B", "id": "C1", "name": "c1"},
    ]


@pytest.fixture
def two_workspaces(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[TrutoSandbox]:
    with TrutoSandbox("tok-webhook-runs-0123") as sandbox:
        for account in ("ws-1", "ws-2"):
            sandbox.add_account(account)
            sandbox.seed_channels(account, 40, seed=len(account) + ord(account[-1]))
        monkeypatch.setenv("AIRFLOW_CONN_TRUTO_WEBHOOKS", connection_json(sandbox))
        monkeypatch.setenv("TRUTO_RATE_LIMIT_DIR", str(tmp_path))
        yield sandbox


def test_plan_joins_every_eligible_channel_of_each_connected_workspace(two_workspaces: TrutoSandbox) -> None:
    from airflow_provider_truto.auto_join.selection import is_auto_joinable

    events = [workspace("truto_webhooks", "ws-1", "e1"), workspace("truto_webhooks", "ws-2", "e2")]
    plan = plan_workspace_joins(
        events, hook_for=TrutoHook, policy=AutoJoinPolicy(), max_tasks=4, accounts_at_once=2
    )
    planned = {(c["integrated_account_id"], c["id"]) for batch in plan.batches for c in batch}
    expected = {
        (account, c["id"])
        for account in ("ws-1", "ws-2")
        for c in two_workspaces.channels(account)
        if is_auto_joinable(c, None, AutoJoinPolicy())
    }
    assert planned == expected and len(plan.batches) <= 4
    assert {item["truto_conn_id"] for item in plan.joins} == {"truto_webhooks"}
    assert set(plan.accounts) == {"ws-1", "ws-2"}
    assert two_workspaces.join_counts() == {}  # planning joins nothing


def test_created_channels_are_read_again_and_checked_like_the_auto_join(two_workspaces: TrutoSandbox) -> None:
    joinable = two_workspaces.add_channel("ws-1", name="eng-new")
    private = two_workspaces.add_channel("ws-1", name="eng-private", type="private_channel")
    member = two_workspaces.add_channel("ws-1", name="eng-member", is_member=True)
    excluded = two_workspaces.add_channel("ws-1", name="social-new")
    archived = two_workspaces.add_channel("ws-1", name="eng-archived")
    two_workspaces.archive_channel("ws-1", archived["id"])  # since the webhook was sent
    events = [
        channel("truto_webhooks", "ws-1", c["id"], f"e{n}", c["name"])
        for n, c in enumerate([joinable, private, member, excluded, archived])
    ]
    events.append(channel("truto_webhooks", "ws-1", "CGONE", "e9", "eng-gone"))
    selected, left_out = select_created_channels(
        created_channels(events), hook_for=TrutoHook, policy=AutoJoinPolicy.build(exclude=["social-*"])
    )
    assert selected == [
        {"truto_conn_id": "truto_webhooks", "integrated_account_id": "ws-1", "channel_id": joinable["id"]}
    ]
    assert sum(left_out.values()) == 5 and left_out["gone"] == 1
    assert two_workspaces.join_counts() == {}
