"""Join new Slack channels within a minute of their creation: event-driven scheduling on a Truto watcher.

An ``Asset`` carries an ``AssetWatcher`` whose ``TrutoNewChannelsTrigger`` polls the channel list on the
triggerer (every ``TRUTO_WATCH_POLL_SECONDS``, default 60). Each time public, active channels the bot is
not in appear, the trigger fires: Airflow records an asset event whose ``extra["payload"]["channels"]``
lists them, and this DAG runs. It reads the channels of every event that triggered the run and joins them
with ``JoinChannelOperator``, one mapped task per channel; channels that can never be joined (archived in
the meantime, gone) are skipped, not failed.

The auto-join policy is the scheduled auto-join DAG's (see docs/auto-join.md): ``TRUTO_WATCH_INCLUDE``
and ``TRUTO_WATCH_EXCLUDE`` are comma-separated globs on the channel name (``eng-*,support-*``; exclude
wins), and channels shared with other organisations are left alone unless ``TRUTO_WATCH_INCLUDE_SHARED``
is ``true``.

``TRUTO_WATCH_CREATED_AFTER`` (ISO-8601) ignores channels created before it; unset, the first poll reports
every channel the bot is not in yet (the backlog, up to 500 per event, oldest first). For a first
catch-up over thousands of channels, prefer ``example_truto_auto_join_channels``, which batches the joins.
The trigger's kwargs must not change from one parse to the next (Airflow identifies a watcher by them),
so everything here is read from the environment, never computed from the clock.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from airflow.sdk import Asset, AssetWatcher, dag, task

from airflow_provider_truto.auto_join.events import channels_from_events, flag_from_env, patterns_from_env
from airflow_provider_truto.operators.instant_messaging import JoinChannelOperator
from airflow_provider_truto.triggers.truto import TrutoNewChannelsTrigger

TRUTO_CONN_ID = "truto_default"

new_slack_channels = Asset(
    "truto_new_slack_channels",
    watchers=[
        AssetWatcher(
            name="truto_new_slack_channels_watcher",
            trigger=TrutoNewChannelsTrigger(
                truto_conn_id=TRUTO_CONN_ID,
                integrated_account_id=os.environ.get("TRUTO_WATCH_INTEGRATED_ACCOUNT_ID") or None,
                created_after=os.environ.get("TRUTO_WATCH_CREATED_AFTER") or None,
                poll_interval=float(os.environ.get("TRUTO_WATCH_POLL_SECONDS") or 60),
                include=patterns_from_env("TRUTO_WATCH_INCLUDE"),
                exclude=patterns_from_env("TRUTO_WATCH_EXCLUDE"),
                include_shared=flag_from_env("TRUTO_WATCH_INCLUDE_SHARED"),
            ),
        )
    ],
)


@dag(
    dag_id="example_truto_join_on_new_channel_event",
    schedule=[new_slack_channels],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["truto", "example"],
    doc_md=__doc__,
)
def example_truto_join_on_new_channel_event() -> None:
    @task
    def new_channels(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        """Collect the channels reported by the events that triggered this run."""
        events = triggering_asset_events[new_slack_channels] if triggering_asset_events else []
        channels = channels_from_events(events)
        print(f"{len(channels)} new channels: {', '.join(c['name'] for c in channels) or 'none'}")
        return channels

    JoinChannelOperator.partial(
        task_id="join_new_channel",
        truto_conn_id=TRUTO_CONN_ID,
        skip_unjoinable=True,
        retries=2,
        map_index_template="{{ truto_channel_label }}",
    ).expand(channel_id=new_channels())


example_truto_join_on_new_channel_event()
