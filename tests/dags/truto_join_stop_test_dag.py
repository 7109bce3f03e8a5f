"""A DAG the on_kill test runs with ``airflow dags test`` and stops with SIGTERM mid-batch: one
JoinChannelOperator over the channel ids of its params."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag

from airflow_provider_truto.operators.instant_messaging import JoinChannelOperator


@dag(
    dag_id="truto_join_stop_test",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    render_template_as_native_obj=True,
    params={"batch": []},
)
def truto_join_stop_test() -> None:
    JoinChannelOperator(task_id="join_batch", channel_ids="{{ params.batch }}")


truto_join_stop_test()
