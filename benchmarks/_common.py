"""Helpers shared by the benchmark scripts (not a test: they print figures for the README)."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the repository's development helpers (tests/support), beside the package

from tests.support.airflow_home import AIRFLOW, new_airflow_home  # noqa: E402


def airflow_home() -> tuple[Path, dict[str, str]]:
    """A temporary AIRFLOW_HOME with a migrated SQLite DB, and the environment pointing at it."""
    return new_airflow_home(dags_folder=REPO / "example_dags", prefix="truto-bench-")


def dags_test(env: dict[str, str], dag_id: str, conn: dict[str, Any], conf: dict[str, Any]) -> str:
    command = [str(AIRFLOW), "dags", "test", dag_id, "--conf", json.dumps(conf)]
    done = subprocess.run(
        command, env={**env, "AIRFLOW_CONN_TRUTO_DEFAULT": json.dumps(conn)}, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"dags test failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout


def median(values: list[float]) -> float:
    return statistics.median(values)
