"""After every run of the session (faults included): the API token is in no log and no task output.

Runs last (see MODULE_ORDER), so it reads what the everyday run, the killed tasks, the outage and the
restarts left behind: task logs of every try, the services' logs, and the metadata database.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_provider_truto.testing import TrutoSandbox

pytestmark = pytest.mark.system
# Where Airflow keeps what a task or a run produced, and what the API recorded of each request.
TASK_OUTPUTS = [
    ("xcom", "value"),
    ("rendered_task_instance_fields", "rendered_fields"),
    ("dag_run", "conf"),
    ("log", "extra"),  # the audit log
    ("asset_event", "extra"),  # the trigger's events
]


def files_with_token(paths: list[Path], token: str) -> list[str]:
    return [str(path) for path in paths if token.encode() in path.read_bytes()]


def test_the_token_is_in_no_task_log(stack: Any, truto: TrutoSandbox) -> None:
    task_logs = [p for p in (stack.home / "logs").rglob("*") if p.is_file()]
    join_logs = [p for p in task_logs if "task_id=join_channels" in str(p)]
    if not join_logs:
        pytest.skip("no run left a log yet: run the whole system suite")
    assert files_with_token(task_logs, truto.token) == []


def test_the_token_is_in_no_service_log(stack: Any, postgres: Any, truto: TrutoSandbox) -> None:
    service_logs = [*stack.logs.glob("*.log"), postgres.log]
    assert len(service_logs) >= 5
    assert files_with_token(service_logs, truto.token) == []


@pytest.mark.parametrize(("table", "column"), TASK_OUTPUTS)
def test_the_token_is_in_no_task_output_run_conf_or_audit_log(
    db: Any, truto: TrutoSandbox, table: str, column: str
) -> None:
    if not db.value(f"SELECT count(*) FROM {table}"):
        pytest.skip(f"{table} is empty: run the whole system suite")
    assert db.value(f"SELECT count(*) FROM {table} WHERE {column}::text LIKE %s", f"%{truto.token}%") == 0
