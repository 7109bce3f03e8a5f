"""Join new Slack channels within a minute of their creation, in every workspace: event-driven scheduling on
one Truto watcher.

An ``Asset`` carries an ``AssetWatcher`` whose ``TrutoNewChannelsTrigger`` watches every Slack workspace
of the token's environment (``TRUTO_WATCH_INTEGRATED_ACCOUNT_IDS``: comma-separated account ids, or
``all``, the default; the account list is read again every minute, so a workspace connected later is
watched without a change here). It polls each workspace at most every ``TRUTO_WATCH_POLL_SECONDS``
(default 30), within half of the token's budget and of Slack's list limit. Each time channels the bot
should join appear in a workspace, the trigger fires: Airflow records an asset event whose
``extra["payload"]["channels"]`` lists them, and this DAG runs. It reads the channels of every event that
triggered the run and joins them in batches, each workspace's channels in one batch and several
workspaces to a batch (``JoinChannelOperator(channel_ids=..., max_concurrency=...)``, a workspace at a
time per thread): a few mapped tasks, not one per channel. Channels that can never be joined (archived in
the meantime, gone) are skipped, not failed. A workspace the watcher had to set aside (it needs
re-authorising, Truto blocked it, it is gone) arrives as an ``error`` event: the run joins the others'
channels, then fails its last task naming it, so the problem shows in the UI.

The auto-join policy is the scheduled auto-join DAG's (see docs/auto-join.md): ``TRUTO_WATCH_INCLUDE``
and ``TRUTO_WATCH_EXCLUDE`` are comma-separated globs on the channel name (``eng-*,support-*``; exclude
wins), and channels shared with other organisations are left alone unless ``TRUTO_WATCH_INCLUDE_SHARED``
is ``true``.

``TRUTO_WATCH_CREATED_AFTER`` (ISO-8601) ignores channels created before it; unset, a workspace's first
poll reports every channel the bot is not in yet (its backlog, up to 500 per event, oldest first). For a
first catch-up over thousands of channels, prefer ``example_truto_auto_join_channels``. The trigger's
kwargs must not change from one parse to the next (Airflow identifies a watcher by them), so everything
here is read from the environment, never computed from the clock.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from airflow.sdk import Asset, AssetWatcher, dag, task

from airflow_provider_truto.auto_join.defaults import DEFAULT_WATCH_POLL_INTERVAL
from airflow_provider_truto.auto_join.events import (
    accounts_from_env,
    batches_by_account,
    flag_from_env,
    patterns_from_env,
    read_events,
)
from airflow_provider_truto.operators.instant_messaging import JoinChannelOperator
from airflow_provider_truto.triggers.truto import TrutoNewChannelsTrigger

TRUTO_CONN_ID = "truto_default"
WORKSPACES_PER_BATCH = 16  # the workspaces one join task works at once
DEFAULT_POLL_SECONDS = DEFAULT_WATCH_POLL_INTERVAL

new_slack_channels = Asset(
    "truto_new_slack_channels",
    watchers=[
        AssetWatcher(
            name="truto_new_slack_channels_watcher",
            trigger=TrutoNewChannelsTrigger(
                truto_conn_id=TRUTO_CONN_ID,
                integrated_account_ids=accounts_from_env("TRUTO_WATCH_INTEGRATED_ACCOUNT_IDS"),
                created_after=os.environ.get("TRUTO_WATCH_CREATED_AFTER") or None,
                poll_interval=float(os.environ.get("TRUTO_WATCH_POLL_SECONDS") or DEFAULT_POLL_SECONDS),
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
    def new_channels(triggering_asset_events: Any = None) -> list[list[dict[str, Any]]]:
        """The channels reported by the events that triggered this run, in join batches."""
        events = read_events(triggering_asset_events[new_slack_channels] if triggering_asset_events else [])
        batches = batches_by_account(events.channels, accounts_per_batch=WORKSPACES_PER_BATCH)
        workspaces = len({c["integrated_account_id"] for c in events.channels})
        print(
            f"{len(events.channels)} new channels in {workspaces} workspaces, {len(batches)} join batches: "
            + (", ".join(c["name"] for c in events.channels[:20]) or "none")
        )
        return batches

    @task(trigger_rule="all_done")
    def workspaces_set_aside(triggering_asset_events: Any = None) -> None:
        """After the joins: fail, naming them, if the watcher reported workspaces it had to set aside."""
        read_events(
            triggering_asset_events[new_slack_channels] if triggering_asset_events else []
        ).raise_problems()
        print("No workspace was set aside")

    joined = JoinChannelOperator.partial(
        task_id="join_new_channels",
        truto_conn_id=TRUTO_CONN_ID,
        max_concurrency=WORKSPACES_PER_BATCH,
        retries=2,
        map_index_template="{{ truto_channel_label }}",
    ).expand(channel_ids=new_channels())
    joined >> workspaces_set_aside()


example_truto_join_on_new_channel_event()
