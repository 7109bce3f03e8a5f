"""A DAG the integration tests run with ``airflow dags test``: JoinChannelOperator with templated ids,
single and batched, and downstream tasks that record what they received through XCom."""

from __future__ import annotations

import json
import os
from datetime import datetime
from typing import Any

from airflow.sdk import dag, task

from airflow_provider_truto.operators.instant_messaging import JoinChannelOperator


@dag(
    dag_id="truto_operator_test",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    render_template_as_native_obj=True,
    params={"channel_id": "", "account": "", "mapped": [], "batch": []},
)
def truto_operator_test() -> None:
    single = JoinChannelOperator(
        task_id="join_one",
        channel_id="{{ params.channel_id }}",
        integrated_account_id="{{ params.account }}",
        exclude_fields=["remote_data"],
    )
    mapped = JoinChannelOperator.partial(
        task_id="join_mapped", map_index_template="{{ truto_channel_label }}"
    ).expand(channel_id=["{{ params.mapped[0] }}", "{{ params.mapped[1] }}"])
    batch = JoinChannelOperator(task_id="join_batch", channel_ids="{{ params.batch }}", max_concurrency=2)

    @task
    def record(single: dict[str, Any], mapped: list[dict[str, Any]], batch: list[dict[str, Any]]) -> None:
        with open(os.environ["TRUTO_TEST_RESULT"], "w") as out:
            json.dump({"single": single, "mapped": list(mapped), "batch": batch}, out)

    record(single.output, mapped.output, batch.output)


truto_operator_test()
