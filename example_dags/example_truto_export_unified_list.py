"""Export a unified list too long for XCom: stream it to object storage, pass on only where it went.

``TrutoUnifiedApiOperator(method="list")`` returns its items through XCom and fails past ``max_items``
(10,000 by default): XCom rows live in the metadata database. For longer lists, a task iterates
``TrutoHook.list_unified`` (one page in memory at a time) and writes JSON Lines to any storage Airflow's
``ObjectStoragePath`` reaches (``s3://``, ``gs://``, ``file://``, ...); XCom carries only the path and the
count. A retry rewrites the run's file whole, so no item is written twice.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from typing import Any

from airflow.sdk import ObjectStoragePath, Param, dag, task

from airflow_provider_truto.hooks.truto import TrutoHook

TRUTO_CONN_ID = "truto_default"
# Where the exports go, e.g. "s3://my-bucket/truto" (with an Airflow connection for the bucket).
EXPORT_BASE = os.environ.get("TRUTO_EXPORT_BASE") or "file:///tmp/truto-exports"
PAGE_SIZE = 200


@dag(
    dag_id="example_truto_export_unified_list",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["truto", "example"],
    params={
        "model": Param("instant-messaging", type="string"),
        "resource": Param("channels", type="string"),
        "integrated_account_id": Param(None, type=["null", "string"], description="Empty: the connection's."),
    },
    doc_md=__doc__,
)
def example_truto_export_unified_list() -> None:
    @task
    def export(**context: Any) -> dict[str, Any]:
        params = context["params"]
        model, resource = params["model"], params["resource"]
        target = ObjectStoragePath(f"{EXPORT_BASE}/{model}/{resource}/{context['run_id']}.jsonl")
        target.parent.mkdir(parents=True, exist_ok=True)
        items = TrutoHook(TRUTO_CONN_ID).list_unified(
            model, resource, integrated_account_id=params["integrated_account_id"] or None, limit=PAGE_SIZE
        )
        count = 0
        with target.open("w") as out:
            for item in items:
                out.write(json.dumps(item) + "\n")
                count += 1
        return {"path": str(target), "items": count}

    export()


example_truto_export_unified_list()
