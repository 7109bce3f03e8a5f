"""Wait for new Slack channels with a deferrable sensor, then join each one.

``TrutoNewChannelsSensor`` checks once, then waits on the triggerer (no worker slot held) until public,
active channels the bot is not in appear, created after the cutoff; it returns them, oldest first and at
most ``max_channels`` (500), and ``JoinChannelOperator`` joins each in its own mapped task (channels that
can no longer be joined are skipped). When every join is done, ``remember_cutoff`` keeps the next run's
cutoff: the newest channel handed on, less an hour, so channels a capped run left behind come with the
next run; a run whose joins failed keeps nothing, and the next run looks again from the cutoff before.
The first run waits for channels created after it started. A run that sees nothing new within the hour is
skipped (``soft_fail``), and the next one takes over.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Param, dag, task

from airflow_provider_truto.operators.instant_messaging import JoinChannelOperator
from airflow_provider_truto.sensors.truto import TrutoNewChannelsSensor

TRUTO_CONN_ID = "truto_default"
POKE_INTERVAL_SECONDS = float(os.environ.get("TRUTO_SENSOR_POKE_SECONDS") or 60)
MAX_CHANNELS = int(os.environ.get("TRUTO_SENSOR_MAX_CHANNELS") or 500)  # a run's cap; the rest come next run
NEXT_CUTOFF = "next_created_after"  # the XCom key remember_cutoff keeps the next run's cutoff under


@dag(
    dag_id="example_truto_new_channels_sensor",
    schedule="@hourly",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["truto", "example"],
    params={
        "created_after": Param(
            None,
            type=["null", "string"],
            description="ISO-8601; empty means since the last successful run started (or this one).",
        ),
    },
    doc_md=__doc__,
)
def example_truto_new_channels_sensor() -> None:
    wait = TrutoNewChannelsSensor(
        task_id="wait_for_new_channels",
        truto_conn_id=TRUTO_CONN_ID,
        created_after=(
            "{{ params.created_after"
            # map_indexes=-1: the latest value kept by an earlier run (without it, every one of them).
            " or ti.xcom_pull(task_ids='remember_cutoff', key='" + NEXT_CUTOFF + "',"
            " include_prior_dates=True, map_indexes=-1)"
            " or (prev_start_date_success and prev_start_date_success.isoformat())"
            " or dag_run.start_date.isoformat() }}"
        ),
        deferrable=True,
        poke_interval=POKE_INTERVAL_SECONDS,
        timeout=55 * 60,
        soft_fail=True,
        max_channels=MAX_CHANNELS,
    )
    joins = JoinChannelOperator.partial(
        task_id="join_new_channel",
        truto_conn_id=TRUTO_CONN_ID,
        skip_unjoinable=True,
        map_index_template="{{ truto_channel_label }}",
    ).expand(channel_id=wait.output)

    # Runs once no join failed (a skipped, unjoinable channel is fine), and keeps nothing when the sensor
    # was skipped.
    @task(trigger_rule="none_failed")
    def remember_cutoff(ti: Any = None) -> None:
        from airflow_provider_truto.auto_join.watermark import next_created_after

        handed_on = ti.xcom_pull(task_ids="wait_for_new_channels") or []
        cutoff = next_created_after(handed_on, overlap=timedelta(hours=1))
        if cutoff is not None:
            ti.xcom_push(key=NEXT_CUTOFF, value=cutoff)

    joins >> remember_cutoff()


example_truto_new_channels_sensor()
