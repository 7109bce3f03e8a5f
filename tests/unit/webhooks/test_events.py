"""What each event asks for: which asset event, with which extra, or why nothing."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_provider_truto.webhooks.delivery import Delivery
from airflow_provider_truto.webhooks.events import (
    CHANNEL_CREATED_ASSET,
    DEFAULT_EVENT_TYPES,
    WORKSPACE_CONNECTED_ASSET,
    WORKSPACE_CONNECTED_EVENTS,
    Action,
    Ignored,
    interpret,
)

CREATED = datetime(2026, 5, 4, 11, 58, tzinfo=timezone.utc)
ACCOUNT = {
    "id": "acct-7",
    "tenant_id": "customer-42",
    "status": "active",
    "is_sandbox": False,
    "integration": {"name": "slack", "category": "instant-messaging"},
    # What Truto's integrated account may carry: the workspace's own credentials. Never copied.
    "context": {"oauth": {"token": {"access_token": "xoxb-SECRET-workspace-token"}}},
}
CHANNEL = {
    "id": "C0NEW",
    "name": "eng-apollo",
    "type": "channel",
    "status": "active",
    "is_member": False,
    "created_at": "2026-05-04T11:57:59Z",
    "remote_data": {"is_ext_shared": False, "topic": {"value": "x" * 50}},
}


def delivery(event: str, payload: Any, **top: Any) -> Delivery:
    body = {"id": "evt-9", "event": event, "payload": payload, "created_at": CREATED.isoformat(), **top}
    return Delivery(id="evt-9", event=event, created_at=CREATED, payload=payload, body=body)


@pytest.mark.parametrize("event", WORKSPACE_CONNECTED_EVENTS)
def test_a_slack_workspace_connected_records_the_workspace_asset(event: str) -> None:
    action = interpret(delivery(event, ACCOUNT), "truto_prod")
    assert action == Action(
        WORKSPACE_CONNECTED_ASSET,
        {
            "truto_event_id": "evt-9",
            "truto_event": event,
            "truto_conn_id": "truto_prod",
            "integrated_account_id": "acct-7",
            "created_at": "2026-05-04T11:58:00+00:00",
            "integration": "slack",
        },
    )
    assert "xoxb" not in repr(action)  # nothing of the payload but the fields above


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"integration": {"name": "msteams"}}, "integration msteams cannot join channels"),
        ({"integration": "googlechat"}, "integration googlechat cannot join channels"),
        ({"is_sandbox": True}, "sandbox accounts are read-only"),
        ({"status": "connecting"}, "the account's status is connecting"),
        ({"status": "needs_reauth"}, "the account's status is needs_reauth"),
    ],
)
def test_accounts_that_cannot_join_now_are_ignored(changes: dict[str, Any], reason: str) -> None:
    decision = interpret(delivery("integrated_account:created", {**ACCOUNT, **changes}), "c")
    assert isinstance(decision, Ignored) and decision.reason.startswith(reason) and decision.shape is None


def test_an_account_with_no_integration_or_status_named_is_acted_on() -> None:
    payload = {"id": "acct-7"}
    decision = interpret(delivery("integrated_account:active", payload), "c")
    assert isinstance(decision, Action) and decision.extra["integration"] is None
    assert interpret(delivery("integrated_account:active", {"id": "a", "integration_name": "Slack"}), "c")


@pytest.mark.parametrize("payload", [None, [], "acct-7", {"tenant_id": "t"}, {"id": ""}])
def test_an_account_event_naming_no_account_is_an_unknown_shape(payload: Any) -> None:
    decision = interpret(delivery("integrated_account:created", payload), "c")
    assert isinstance(decision, Ignored) and decision.shape
    assert decision.shape.startswith("integrated_account:created: payload keys")


@pytest.mark.parametrize(
    ("payload", "top"),
    [
        # The model and resource named at the top level, the payload the unified channel itself.
        (
            {**CHANNEL, "integrated_account_id": "acct-7"},
            {"unified_model": "instant-messaging", "resource": "channels"},
        ),
        # Everything inside the payload, the record under "record".
        (
            {
                "integrated_account_id": "acct-7",
                "unified_model": "instant-messaging",
                "unified_resource": "channels",
                "record": CHANNEL,
            },
            {},
        ),
        # The account as an object, the record under "data".
        (
            {
                "integrated_account": {"id": "acct-7"},
                "model": "instant-messaging",
                "resource": "channels",
                "data": CHANNEL,
            },
            {},
        ),
    ],
)
def test_record_created_for_a_channel_records_the_channel_asset(payload: Any, top: dict[str, Any]) -> None:
    action = interpret(delivery("record:created", payload, **top), "truto_prod")
    assert isinstance(action, Action) and action.asset == CHANNEL_CREATED_ASSET
    assert action.extra["integrated_account_id"] == "acct-7"
    assert action.extra["truto_conn_id"] == "truto_prod"
    assert action.extra["channel"] == {
        "id": "C0NEW",
        "name": "eng-apollo",
        "type": "channel",
        "status": "active",
        "created_at": "2026-05-04T11:57:59Z",
    }
    assert "remote_data" not in repr(action.extra)


def test_records_of_other_resources_and_non_public_channels_are_ignored() -> None:
    message = {
        "integrated_account_id": "a",
        "unified_model": "instant-messaging",
        "resource": "messages",
        "record": {"id": "m"},
    }
    assert interpret(delivery("record:created", message), "c") == Ignored(
        "a instant-messaging/messages record is not acted on"
    )
    private = {**CHANNEL, "type": "private_channel", "integrated_account_id": "a"}
    decision = interpret(
        delivery("record:created", private, unified_model="instant-messaging", resource="channels"), "c"
    )
    assert isinstance(decision, Ignored) and decision.reason.startswith(
        "a private_channel channel cannot be joined"
    )


@pytest.mark.parametrize(
    "payload",
    [
        CHANNEL,  # no model, resource or account
        {**CHANNEL, "integrated_account_id": "a"},  # no model or resource
        {
            "unified_model": "instant-messaging",
            "resource": "channels",
            "integrated_account_id": "a",
        },  # no record
    ],
)
def test_a_record_payload_this_receiver_cannot_read_is_an_unknown_shape(payload: Any) -> None:
    decision = interpret(delivery("record:created", payload), "c")
    assert isinstance(decision, Ignored) and decision.shape
    # The shape names keys, never values.
    assert "eng-apollo" not in decision.shape and "C0NEW" not in decision.shape


@pytest.mark.parametrize(
    "event",
    [
        "integrated_account:updated",
        "integrated_account:authentication_error",
        "record:updated",
        "sync_job_run:completed",
    ],
)
def test_other_events_are_ignored(event: str) -> None:
    assert interpret(delivery(event, ACCOUNT), "c") == Ignored(f"{event} is not acted on")


def test_registering_subscribes_to_every_event_acted_on() -> None:
    assert set(DEFAULT_EVENT_TYPES) == {*WORKSPACE_CONNECTED_EVENTS, "record:created"}
