"""Join a channel within seconds of its creation: Truto's ``record:created`` webhook, no polling.

Where the Slack app's events reach Truto, Truto posts ``record:created`` for a new channel to the
provider's receiver on Airflow's api-server (``POST /truto/webhooks/<conn_id>``, see docs/webhooks.md).
The receiver verifies the signature and records an asset event on ``truto_webhook_channel_created``; that
asset event runs this DAG. It reads each channel again from Truto, keeps those the auto-join would join
(public, active, not a member, allowed by the policy) and joins each with ``JoinChannelOperator``.

Policy (params, see docs/auto-join.md), as in ``example_truto_webhook_auto_join``: asset-triggered runs
take the defaults written here. Whether Slack's channel creation reaches Truto's webhooks depends on the
app's set-up: the new-channels watcher (``example_truto_join_on_new_channel_event``) and the hourly
auto-join stay the dependable route, and catch anything a webhook misses.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import Asset, Param, dag, get_current_context, task

from airflow_provider_truto.operators.instant_messaging import JoinChannelOperator
from airflow_provider_truto.webhooks.events import CHANNEL_CREATED_ASSET

channel_created = Asset(CHANNEL_CREATED_ASSET)


@dag(
    dag_id="example_truto_webhook_join_channel",
    schedule=[channel_created],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["truto", "example", "webhook"],
    params={
        "include": Param(
            None, type=["null", "string", "array"], description="Globs on the channel name to join."
        ),
        "exclude": Param(
            None, type=["null", "string", "array"], description="Globs never to join; they win."
        ),
        "include_shared": Param(False, type="boolean", description="Also join channels shared outside."),
    },
    doc_md=__doc__,
)
def example_truto_webhook_join_channel() -> None:
    @task
    def select_channels(triggering_asset_events: Any = None) -> list[dict[str, str]]:
        """The created channels to join, read again from Truto and checked against the policy."""
        from airflow_provider_truto.auto_join.policy import AutoJoinPolicy
        from airflow_provider_truto.auto_join.report import describe_left_out
        from airflow_provider_truto.auto_join.webhook_events import created_channels, select_created_channels
        from airflow_provider_truto.hooks.truto import TrutoHook

        params = get_current_context()["params"]
        policy = AutoJoinPolicy.build(
            params.get("include"), params.get("exclude"), params.get("include_shared")
        )
        events = triggering_asset_events[channel_created] if triggering_asset_events else []
        channels = created_channels(events)
        selected, left_out = select_created_channels(channels, hook_for=TrutoHook, policy=policy)
        left = describe_left_out(left_out)
        print(f"Joining {len(selected)} of {len(channels)} new channels; left out: {left}")
        return selected

    JoinChannelOperator.partial(
        task_id="join_channel",
        skip_unjoinable=True,
        retries=2,
        map_index_template="{{ truto_channel_label }}",
    ).expand_kwargs(select_channels())


example_truto_webhook_join_channel()
