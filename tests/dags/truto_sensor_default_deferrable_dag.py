"""A sensor with no ``deferrable`` argument: whether it defers is Airflow's ``[operators]
default_deferrable``, which the test sets through the environment of ``airflow dags test``."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag

from airflow_provider_truto.sensors.truto import TrutoNewChannelsSensor


@dag(
    dag_id="truto_sensor_default_deferrable",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"created_after": ""},
)
def truto_sensor_default_deferrable() -> None:
    TrutoNewChannelsSensor(
        task_id="wait", created_after="{{ params.created_after }}", poke_interval=1, timeout=90
    )


truto_sensor_default_deferrable()
