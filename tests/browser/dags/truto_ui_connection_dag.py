"""The DAG the browser test runs on the connection it made in Airflow's form: ``truto_default`` from the
metadata database, its default integrated account, everything else as the form left it."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag

from airflow_provider_truto.operators.instant_messaging import JoinChannelOperator


@dag(
    dag_id="truto_ui_connection_join",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"channel_id": ""},
)
def truto_ui_connection_join() -> None:
    JoinChannelOperator(task_id="join", channel_id="{{ params.channel_id }}")


truto_ui_connection_join()
