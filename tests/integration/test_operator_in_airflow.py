"""JoinChannelOperator inside a real Airflow: ``airflow dags test`` with a SQLite metadata DB."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.airflow_home import AIRFLOW, airflow_env
from tests.support.helpers import (
    ACCOUNT,
    EXAMPLE_DAGS,
    TEST_DAGS,
    TOKEN,
    connection_json,
    metadata_rows,
    run_dag_test,
    token_leaks,
)

pytestmark = pytest.mark.integration
DAG_ID = "truto_operator_test"


def test_operator_templated_single_mapped_and_batch(sandbox: Any, airflow_home: Path, tmp_path: Path) -> None:
    def fresh(name: str, **kwargs: Any) -> str:
        return str(sandbox.add_channel(ACCOUNT, name=name, **kwargs)["id"])

    single, first, second, good = fresh("single"), fresh("mapped-a"), fresh("mapped-b"), fresh("batch-ok")
    archived = fresh("batch-archived", status="archived")
    private = fresh("batch-private", type="private_channel")
    result_file = tmp_path / "result.json"
    conf = {
        "channel_id": single,
        "account": ACCOUNT,
        "mapped": [first, second],
        "batch": [good, archived, private, "CGONE000000"],
    }
    done = run_dag_test(
        airflow_home,
        DAG_ID,
        conn=connection_json(sandbox),
        conf=conf,
        dags_folder=TEST_DAGS,
        TRUTO_TEST_RESULT=str(result_file),
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    received = json.loads(result_file.read_text())

    # The downstream task got the unified channel from XCom, templated ids rendered.
    assert received["single"]["id"] == single and received["single"]["is_member"] is True
    assert "remote_data" not in received["single"]
    assert sorted(c["id"] for c in received["mapped"]) == sorted([first, second])
    outcomes = {o["id"]: (o["outcome"], o["reason"]) for o in received["batch"]}
    assert outcomes == {
        good: ("joined", None),
        archived: ("skipped", "is_archived"),
        private: ("skipped", "method_not_supported_for_channel_type"),
        "CGONE000000": ("skipped", "channel_not_found"),
    }
    assert sandbox.join_counts(ACCOUNT) == {single: 1, first: 1, second: 1, good: 1}

    # The token is in no log line, output or XCom. ``airflow dags test`` writes no task log files: each
    # task's log is streamed into its output (the operator's own lines prove it), and XCom is in the DB.
    output = done.stdout + done.stderr
    # A task given only an id logs, and is labelled with, the name Truto answered with.
    assert f"Joined channel single ({single}) in integrated account {ACCOUNT}" in output
    assert re.search(r"Joined 1 of 4 channels in \d+ s \([\d./a-z]+\): 3 skipped \(", output)
    labels = metadata_rows(
        airflow_home,
        DAG_ID,
        "SELECT rendered_map_index FROM task_instance WHERE task_id = 'join_mapped' AND dag_id = ?",
    )
    assert sorted(label for (label,) in labels) == ["mapped-a", "mapped-b"]
    assert token_leaks(output) == []
    xcoms = metadata_rows(airflow_home, DAG_ID, "SELECT task_id, value FROM xcom WHERE dag_id = ?")
    assert {task_id for task_id, _ in xcoms} >= {"join_one", "join_mapped", "join_batch"}
    assert token_leaks(repr(xcoms)) == [] and single in repr(xcoms)
    assert TOKEN not in result_file.read_text()


def test_bad_input_fails_without_a_request(sandbox: Any, airflow_home: Path, tmp_path: Path) -> None:
    conf = {"channel_id": "   ", "account": ACCOUNT, "mapped": ["", ""], "batch": [""]}
    done = run_dag_test(
        airflow_home,
        DAG_ID,
        conn=connection_json(sandbox),
        conf=conf,
        dags_folder=TEST_DAGS,
        TRUTO_TEST_RESULT=str(tmp_path / "unused.json"),
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "invalid argument 'channel_id'" in output and "invalid argument 'channel_ids[0]'" in output
    assert sandbox.requests == []
    assert not (tmp_path / "unused.json").exists()


def test_airflow_connections_test(sandbox: Any, airflow_home: Path) -> None:
    def connections_test(conn: str) -> subprocess.CompletedProcess[str]:
        env = airflow_env(
            airflow_home,
            dags_folder=EXAMPLE_DAGS,
            AIRFLOW_CONN_TRUTO_DEFAULT=conn,
            AIRFLOW__CORE__TEST_CONNECTION="Enabled",
        )
        command = [str(AIRFLOW), "connections", "test", "truto_default"]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    good = connections_test(connection_json(sandbox))
    assert good.returncode == 0 and "Connection success!" in good.stdout, good.stdout + good.stderr
    assert sandbox.requests[-1].path == f"/integrated-account/{ACCOUNT}"

    wrong = json.loads(connection_json(sandbox))
    wrong["password"] = "wrong-token-0123456789"
    bad = connections_test(json.dumps(wrong))
    assert "Connection success!" not in bad.stdout and "401" in bad.stdout + bad.stderr
    assert "wrong-token-0123456789" not in bad.stdout + bad.stderr
