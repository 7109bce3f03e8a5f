"""Where a secret could end up once Airflow has run tasks: files (logs) and the metadata database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# Where Airflow keeps what a task or a run produced, and what the API recorded of each request.
TASK_OUTPUTS = [
    ("xcom", "value"),
    ("rendered_task_instance_fields", "rendered_fields"),
    ("dag_run", "conf"),
    ("log", "extra"),  # the audit log
    ("asset_event", "extra"),  # the trigger's events
]


def files_with(paths: list[Path], secret: str) -> list[str]:
    """The files among ``paths`` that hold ``secret``."""
    return [str(path) for path in paths if secret.encode() in path.read_bytes()]


def rows_with(db: Any, table: str, column: str, secret: str) -> int:
    """How many rows of ``table`` hold ``secret`` in ``column``."""
    return int(db.value(f"SELECT count(*) FROM {table} WHERE {column}::text LIKE %s", f"%{secret}%"))
