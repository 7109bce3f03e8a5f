"""How the channel list is asked for: as few requests as Slack allows, only what a decision reads.

One query for the scheduled auto-join DAG, the sensor and the trigger. Truto's channel list for Slack is
Slack's ``conversations.list``, so:

- the largest page Slack gives (``limit`` 1000; :data:`~airflow_provider_truto.auto_join.defaults.
  DEFAULT_CHANNELS_PER_PAGE`). Whether Truto passes more than its own default through is unconfirmed:
  any page size that comes back is taken, the cursor walk does not care;
- Slack's own filters through ``remote_query``: public channels only, archived ones left out. A
  2,000-channel workspace is then 2 requests instead of 20 at pages of 100;
- ``truto_exclude_fields`` for the unified fields no decision reads;
- ``truto_ignore_remote_data`` only when the policy does not need Slack's object to tell sharing.

The selection still checks type, status, membership and policy on every channel it gets
(:mod:`~airflow_provider_truto.auto_join.selection`): an integration may ignore a filter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_truto.auto_join.policy import AutoJoinPolicy

__all__ = ["SLACK_FILTERS", "UNREAD_FIELDS", "channel_list_query"]

# Slack's conversations.list parameters, passed through by Truto as remote_query[...].
SLACK_FILTERS = {"types": "public_channel", "exclude_archived": True}
# Unified fields that no selection, policy or summary reads (``id``, ``name``, ``type``, ``status``,
# ``is_member``, ``created_at`` and ``remote_data`` are read).
UNREAD_FIELDS = ("description", "updated_at", "created_by", "workspace", "organization", "group")


def channel_list_query(policy: AutoJoinPolicy | None) -> dict[str, Any]:
    """The query of a channel list read to find the channels to join (without ``limit`` and the account)."""
    query: dict[str, Any] = {"remote_query": dict(SLACK_FILTERS), "truto_exclude_fields": list(UNREAD_FIELDS)}
    # Without remote_data no sharing can be read: only a policy that ignores sharing may drop it.
    if policy is not None and not policy.needs_remote_data:
        query["truto_ignore_remote_data"] = True
    return query
