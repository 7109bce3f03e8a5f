"""After every run of the session (faults included): the API token is in no log and no task output.

Runs last (see MODULE_ORDER), so it reads what the everyday run, the killed tasks, the outage and the
restarts left behind: task logs of every try, the services' logs, and the metadata database.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_truto.testing import TrutoSandbox
from tests.system.leaks import TASK_OUTPUTS, files_with, rows_with

pytestmark = pytest.mark.system


def test_the_token_is_in_no_task_log(stack: Any, truto: TrutoSandbox) -> None:
    task_logs = [p for p in (stack.home / "logs").rglob("*") if p.is_file()]
    join_logs = [p for p in task_logs if "task_id=join_channels" in str(p)]
    if not join_logs:
        pytest.skip("no run left a log yet: run the whole system suite")
    assert files_with(task_logs, truto.token) == []


def test_the_token_is_in_no_service_log(stack: Any, postgres: Any, truto: TrutoSandbox) -> None:
    service_logs = [*stack.logs.glob("*.log"), postgres.log]
    assert len(service_logs) >= 5
    assert files_with(service_logs, truto.token) == []


@pytest.mark.parametrize(("table", "column"), TASK_OUTPUTS)
def test_the_token_is_in_no_task_output_run_conf_or_audit_log(
    db: Any, truto: TrutoSandbox, table: str, column: str
) -> None:
    if not db.value(f"SELECT count(*) FROM {table}"):
        pytest.skip(f"{table} is empty: run the whole system suite")
    assert rows_with(db, table, column, truto.token) == 0
