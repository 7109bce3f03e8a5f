"""What a verified Truto event asks Airflow to do: an asset event to record, or nothing (and why).

=================================================  ============================================
event                                              asset event (the DAG scheduled on it acts)
=================================================  ============================================
``integrated_account:created|active|reactivated``  :data:`WORKSPACE_CONNECTED_ASSET`: auto-join the
                                                   workspace's existing public channels
``record:created`` of an instant-messaging channel :data:`CHANNEL_CREATED_ASSET`: join the channel
anything else                                      none: answered 2xx and ignored
=================================================  ============================================

An account that cannot join (not Slack, a read-only sandbox account, not active yet) is ignored here,
so no DAG run starts for nothing. The asset event's ``extra`` carries only the fields below, never the
payload itself: Truto's integrated account holds a ``context`` that may carry the workspace's own
credentials, and an asset event's extra is shown in Airflow's UI. The shape of ``record:*`` payloads is
unconfirmed: the model, resource, account and record are looked for at the top level and inside
``payload``; a shape none of that fits is reported (:attr:`Ignored.shape`) so the receiver can log it once.

No Airflow here, like the rest of :mod:`airflow_provider_truto.webhooks`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_truto.auto_join.planning import JOINABLE_INTEGRATIONS
from airflow_provider_truto.client.unified_api import CHANNELS, INSTANT_MESSAGING
from airflow_provider_truto.webhooks.delivery import Delivery

WORKSPACE_CONNECTED_ASSET = "truto_webhook_workspace_connected"
CHANNEL_CREATED_ASSET = "truto_webhook_channel_created"
WORKSPACE_CONNECTED_EVENTS = (
    "integrated_account:created",
    "integrated_account:active",
    "integrated_account:reactivated",
)
RECORD_CREATED_EVENT = "record:created"
# What registering a webhook subscribes to by default: every event that does something here.
DEFAULT_EVENT_TYPES = (*WORKSPACE_CONNECTED_EVENTS, RECORD_CREATED_EVENT)

# The asset event's extra: the receiver writes these keys, the DAGs read them.
EVENT_ID = "truto_event_id"
EVENT_TYPE = "truto_event"
CONN_ID = "truto_conn_id"
ACCOUNT_ID = "integrated_account_id"
CREATED_AT = "created_at"
INTEGRATION = "integration"
CHANNEL = "channel"
CHANNEL_FIELDS = ("id", "name", "type", "status", "created_at")

_MODEL_KEYS = ("unified_model", "model", "unified_model_name")
_RESOURCE_KEYS = ("unified_resource", "resource", "resource_name")
_RECORD_KEYS = ("record", "data", "result")


@dataclass(frozen=True)
class Action:
    """Record an asset event on ``asset`` with ``extra`` (plain JSON)."""

    asset: str
    extra: dict[str, Any]


@dataclass(frozen=True)
class Ignored:
    """Nothing to do, and why. ``shape`` describes a payload this module could not read (log it once)."""

    reason: str
    shape: str | None = None


def interpret(delivery: Delivery, conn_id: str) -> Action | Ignored:
    """What ``delivery`` (received for connection ``conn_id``) asks for."""
    if delivery.event in WORKSPACE_CONNECTED_EVENTS:
        return _workspace_connected(delivery, conn_id)
    if delivery.event == RECORD_CREATED_EVENT:
        return _record_created(delivery, conn_id)
    return Ignored(f"{delivery.event} is not acted on")


def _workspace_connected(delivery: Delivery, conn_id: str) -> Action | Ignored:
    account = delivery.payload
    if not isinstance(account, Mapping) or not _id(account.get("id")):
        return Ignored("the payload names no integrated account", _shape(delivery))
    integration = _integration_name(account)
    if integration is not None and integration not in JOINABLE_INTEGRATIONS:
        return Ignored(f"integration {integration} cannot join channels")
    if account.get("is_sandbox") is True:
        return Ignored("sandbox accounts are read-only")
    status = account.get("status")
    if status not in (None, "active"):
        return Ignored(
            f"the account's status is {status}; integrated_account:active follows when it is active"
        )
    extra = _common(delivery, conn_id, str(account["id"]).strip())
    extra[INTEGRATION] = integration
    return Action(WORKSPACE_CONNECTED_ASSET, extra)


def _record_created(delivery: Delivery, conn_id: str) -> Action | Ignored:
    places = [p for p in (delivery.payload, delivery.body) if isinstance(p, Mapping)]
    model, resource = _first(places, _MODEL_KEYS), _first(places, _RESOURCE_KEYS)
    record = _record(delivery.payload)
    account = _first(places, (ACCOUNT_ID,)) or _nested_account(places)
    if model is None or resource is None or record is None or account is None:
        return Ignored("a record:created payload this receiver cannot read", _shape(delivery))
    if (model, resource) != (INSTANT_MESSAGING, CHANNELS):
        return Ignored(f"a {model}/{resource} record is not acted on")
    if record.get("type") not in (None, "channel"):
        return Ignored(f"a {record.get('type')} channel cannot be joined by an app (it must be invited)")
    extra = _common(delivery, conn_id, account)
    extra[CHANNEL] = {name: record[name] for name in CHANNEL_FIELDS if _scalar(record.get(name))}
    return Action(CHANNEL_CREATED_ASSET, extra)


def _common(delivery: Delivery, conn_id: str, account: str) -> dict[str, Any]:
    return {
        EVENT_ID: delivery.id,
        EVENT_TYPE: delivery.event,
        CONN_ID: conn_id,
        ACCOUNT_ID: account,
        CREATED_AT: delivery.created_at.isoformat(),
    }


def _integration_name(account: Mapping[str, Any]) -> str | None:
    integration = account.get("integration")
    name = integration.get("name") if isinstance(integration, Mapping) else integration
    name = name if name is not None else account.get("integration_name")
    return str(name).strip().lower() if isinstance(name, str) and name.strip() else None


def _record(payload: Any) -> Mapping[str, Any] | None:
    """The unified record: under ``record`` / ``data`` / ``result``, or the payload itself; it has an id."""
    if not isinstance(payload, Mapping):
        return None
    for key in _RECORD_KEYS:
        inner = payload.get(key)
        if isinstance(inner, Mapping) and _id(inner.get("id")):
            return inner
    return payload if _id(payload.get("id")) else None


def _nested_account(places: list[Mapping[str, Any]]) -> str | None:
    for place in places:
        account = place.get("integrated_account")
        if isinstance(account, Mapping) and _id(account.get("id")):
            return str(account["id"]).strip()
    return None


def _first(places: list[Mapping[str, Any]], keys: tuple[str, ...]) -> str | None:
    for place in places:
        for key in keys:
            if _id(place.get(key)):
                return str(place[key]).strip()
    return None


def _id(value: Any) -> bool:
    return isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip() != ""


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


def _shape(delivery: Delivery) -> str:
    """The event and the keys of its payload (never values): enough to recognise a shape in a log."""
    payload = delivery.payload
    keys = sorted(str(k) for k in payload)[:30] if isinstance(payload, Mapping) else type(payload).__name__
    return (
        f"{delivery.event}: payload keys {keys}, top-level keys {sorted(str(k) for k in delivery.body)[:30]}"
    )
