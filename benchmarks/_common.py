"""Helpers shared by the benchmark scripts (not a test: they print figures for the README)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
AIRFLOW = Path(sys.executable).with_name("airflow")


def airflow_home() -> tuple[Path, dict[str, str]]:
    """A temporary AIRFLOW_HOME with a migrated SQLite DB, and the environment pointing at it."""
    home = Path(tempfile.mkdtemp(prefix="truto-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "example_dags"),
            "TRUTO_RATE_LIMIT_DIR": str(home / "rate-limits"),
        }
    )
    subprocess.run([str(AIRFLOW), "db", "migrate"], env=env, check=True, capture_output=True)
    return home, env


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
