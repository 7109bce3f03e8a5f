"""A watch over a fleet of workspaces: each workspace's state, what a failure means, what discovery changed.

Pure pieces of :class:`~airflow_provider_truto.triggers.truto.TrutoNewChannelsTrigger`; the trigger
does the polling, the waiting and the events. No Airflow, no HTTP.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_truto.client.query import format_scalar
from airflow_provider_truto.client.retry import is_retryable
from airflow_provider_truto.exceptions import (
    TrutoAuthError,
    TrutoInputError,
    TrutoRedirectError,
)

if TYPE_CHECKING:
    from airflow_provider_truto.auto_join.policy import AutoJoinPolicy

__all__ = [
    "STATE_KEY_PREFIX",
    "Failure",
    "WorkspaceWatch",
    "discovery_changes",
    "failure_of",
    "watch_state_key",
]

STATE_KEY_PREFIX = "truto_new_channels"


class Failure(enum.Enum):
    """What a failed poll means for the watch."""

    #: a retry could mend it (429, 5xx but 503, timeouts): the workspace is polled again at its turn.
    TRANSIENT = "transient"
    #: this workspace cannot be read for now (re-auth needed, blocked, gone, missing scope, unreadable
    #: answers): set aside, reported once, checked again later; the others go on.
    WORKSPACE = "workspace"
    #: nothing can be read: the API token is refused by Truto itself, the Base URL redirects, a setting is
    #: wrong. The watch ends with an error event.
    WATCH = "watch"


def failure_of(error: BaseException) -> Failure:
    """What ``error``, raised by a poll after the client's own retries, means for the watch.

    Truto's own 401 (not the provider's, ``truto_is_remote_error`` false) refuses the API token: every
    workspace would meet it. Slack's 401 (``invalid_auth``) is one workspace needing re-authorisation.
    """
    if is_retryable(error):
        return Failure.TRANSIENT
    if isinstance(error, (TrutoRedirectError, TrutoInputError)):
        return Failure.WATCH
    if isinstance(error, TrutoAuthError) and error.status_code == 401 and not error.is_remote_error:
        return Failure.WATCH
    return Failure.WORKSPACE


def watch_state_key(
    truto_conn_id: str, account: str, created_after: datetime | None, policy: AutoJoinPolicy
) -> str:
    """The asset-state-store key of one workspace's watermark. Another connection, account, cutoff or
    policy starts afresh (a watermark kept across a policy change would hide the older channels the new
    policy allows); the same watch keeps its key whether one trigger watches the workspace or a fleet."""
    created = format_scalar(created_after) if created_after is not None else None
    scope = json.dumps([truto_conn_id, account, created, policy.to_kwargs()], sort_keys=True)
    return f"{STATE_KEY_PREFIX}:{hashlib.sha256(scope.encode()).hexdigest()[:16]}"


@dataclass
class WorkspaceWatch:
    """One workspace's state in a watch: its watermark and the ids reported just below it, and whether
    they were read back from the state store, written to it, and a failure of it reported."""

    watermark: datetime | None = None
    seen_ids: list[str] = field(default_factory=list)
    restored: bool = False
    failure_reported: bool = False
    saved: dict[str, Any] | None = None

    def snapshot(self) -> dict[str, Any]:
        """The state as the store keeps it."""
        watermark = format_scalar(self.watermark) if self.watermark is not None else None
        return {"watermark": watermark, "seen_ids": list(self.seen_ids)}


def discovery_changes(
    watched: Iterable[str], chosen: Iterable[str], left_out: Mapping[str, Mapping[str, Any]]
) -> tuple[list[str], dict[str, str]]:
    """``(workspaces to add, workspaces to drop -> why)`` after a read of the account list.

    ``chosen`` and ``left_out`` are what
    :func:`~airflow_provider_truto.auto_join.planning.discover_joinable_accounts` made of the list: a
    watched workspace left out says why (``left out: status is needs_reauth``); one no longer listed was
    disconnected.
    """
    current = set(watched)
    wanted = list(dict.fromkeys(chosen))
    added = [account for account in wanted if account not in current]
    dropped = {
        account: str(left_out[account].get("error") or "left out") if account in left_out else "disconnected"
        for account in sorted(current - set(wanted))
    }
    return added, dropped
