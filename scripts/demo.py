"""`make demo`: the auto-join DAG end to end, on the sandbox or, with credentials, on real Truto.

Without credentials: start the sandbox with a seeded workspace (a few hundred old channels and a few dozen
created in the last day, some shared with other organisations), then run
``airflow dags test example_truto_auto_join_channels`` against it twice with an auto-join policy (only
engineering-style channels, never one shared with another organisation): first as a dry run, which joins
nothing and reports what it would join and what each rule left out, then for real. The SQLite metadata
DB lives in ``.airflow/`` (git-ignored); the sandbox is stopped at the end.

With ``TRUTO_API_TOKEN`` and ``TRUTO_INTEGRATED_ACCOUNT_ID`` set (``TRUTO_BASE_URL`` optional), the same
two runs go to real Truto with the default policy (every name; shared channels left alone): the real run
joins the account's public channels created since the last successful demo run (on the first: all).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the repository's development helpers (tests/support), beside the package

from tests.support.airflow_home import AIRFLOW, new_airflow_home  # noqa: E402

# .airflow/ in the clone; the test of the README's quoted output gives the demo a home of its own.
AIRFLOW_HOME = Path(os.environ.get("TRUTO_DEMO_AIRFLOW_HOME") or REPO / ".airflow")
DAG_ID = "example_truto_auto_join_channels"
# The demo's policy: engineering-style channels, but not the Comet project's; shared ones left alone.
DEMO_POLICY = {
    "include": ["eng-*", "ops-*", "incident-*", "data-*", "support-*", "alerts-*", "release-*"],
    "exclude": ["*-comet-*"],
    "include_shared": False,
}


def main() -> int:
    real = os.environ.get("TRUTO_API_TOKEN") and os.environ.get("TRUTO_INTEGRATED_ACCOUNT_ID")
    env = airflow_env()
    if real:
        print(
            f"Running {DAG_ID} against Truto at {os.environ.get('TRUTO_BASE_URL') or 'https://api.truto.one'}"
        )
        return dry_run_then_real(env, real_connection(), conf={}, sandbox_url=None)
    sandbox, conn, url = start_sandbox()
    try:
        before = sandbox_state(url)
        print(f"Sandbox at {url}: {describe(before)}")
        include, exclude = ", ".join(DEMO_POLICY["include"]), ", ".join(DEMO_POLICY["exclude"])
        print(
            f"Policy: include {include}; exclude {exclude}; channels shared with other companies left alone"
        )
        # Channels created in the last day count as new, so every demo run has an everyday workload.
        since = (datetime.now(timezone.utc) - timedelta(days=1)).isoformat()
        return dry_run_then_real(env, conn, conf={"created_after": since, **DEMO_POLICY}, sandbox_url=url)
    finally:
        sandbox.send_signal(signal.SIGTERM)
        sandbox.wait(timeout=10)


def dry_run_then_real(env: dict[str, str], conn: str, conf: dict[str, Any], sandbox_url: str | None) -> int:
    """A dry run first (what would be joined, nothing sent), then the same selection for real."""
    print("\n== Dry run: list, select and report; no join request is sent ==")
    if run_dag(
        env, conn, conf={**conf, "dry_run": True}, sandbox_url=sandbox_url, log_name="demo-dry-run.log"
    ):
        return 1
    print("\n== Real run: the same selection, joined ==")
    return run_dag(env, conn, conf=conf, sandbox_url=sandbox_url, log_name="demo-run.log")


def airflow_env() -> dict[str, str]:
    """The demo's Airflow home (.airflow/, kept between runs: the next run joins what is new since)."""
    if not (AIRFLOW_HOME / "airflow.db").exists():
        print(f"Creating the Airflow metadata database in {AIRFLOW_HOME.name}/ ...")
    _, env = new_airflow_home(directory=AIRFLOW_HOME, dags_folder=REPO / "example_dags")
    return env


def real_connection() -> str:
    extra = {"integrated_account_id": os.environ["TRUTO_INTEGRATED_ACCOUNT_ID"]}
    return json.dumps(
        {
            "conn_type": "truto",
            "host": os.environ.get("TRUTO_BASE_URL", ""),
            "password": os.environ["TRUTO_API_TOKEN"],
            "extra": extra,
        }
    )


def start_sandbox() -> tuple[subprocess.Popen[str], str, str]:
    command = [
        sys.executable, "-m", "airflow_provider_truto.testing",
        "--channels", "300", "--new-channels", "80", "--seed", "7",
        "--shared", "0.15", "--org-shared", "0.05",
    ]  # fmt: skip
    sandbox = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert sandbox.stdout is not None
    lines = dict(line.strip().split("=", 1) for line in (sandbox.stdout.readline() for _ in range(2)))
    if sandbox.stdout.readline().strip() != "ready":
        raise SystemExit("the sandbox did not start")
    return sandbox, lines["AIRFLOW_CONN_TRUTO_DEFAULT"], lines["TRUTO_SANDBOX_URL"]


def run_dag(
    env: dict[str, str], conn: str, conf: dict[str, Any], sandbox_url: str | None, log_name: str
) -> int:
    log_path = AIRFLOW_HOME / log_name
    command = [str(AIRFLOW), "dags", "test", DAG_ID]
    if conf:
        command += ["--conf", json.dumps(conf)]
    started = time.monotonic()
    with log_path.open("w") as log:
        done = subprocess.run(
            command, env={**env, "AIRFLOW_CONN_TRUTO_DEFAULT": conn}, stdout=log, stderr=log
        )
    elapsed = time.monotonic() - started
    output = log_path.read_text(errors="replace")
    shown = log_path.relative_to(REPO) if log_path.is_relative_to(REPO) else log_path
    print(f"\n`airflow dags test {DAG_ID}` finished in {elapsed:.0f}s (full log: {shown})")
    report = [
        line
        for line in output.splitlines()
        if line.lstrip().startswith(("Auto-join", "account ", "failed:", "left out:"))
    ]
    print("\n".join(report) or "No report: see the log.")
    labels = mapped_labels()
    if labels:
        shown = ", ".join(labels[:12]) + (f", ... ({len(labels)} tasks)" if len(labels) > 12 else "")
        print(f"Mapped join tasks: {shown}")
    if sandbox_url:
        print(f"Sandbox after the run: {describe(sandbox_state(sandbox_url))}")
    print("DAG run:", "success" if done.returncode == 0 else "FAILED")
    return done.returncode


def mapped_labels() -> list[str]:
    with sqlite3.connect(AIRFLOW_HOME / "airflow.db") as db:
        run = db.execute(
            "select run_id from dag_run where dag_id = ? order by start_date desc limit 1", (DAG_ID,)
        ).fetchone()
        if not run:
            return []
        rows = db.execute(
            "select rendered_map_index from task_instance where dag_id = ? and run_id = ? "
            "and task_id = 'join_channels' and map_index >= 0 order by map_index",
            (DAG_ID, run[0]),
        ).fetchall()
    return [row[0] or "?" for row in rows]


def sandbox_state(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/_sandbox/state", timeout=10) as answer:
        state: dict[str, Any] = json.load(answer)
        return state


def describe(state: dict[str, Any]) -> str:
    accounts = state["accounts"]
    channels = sum(a["channels"] for a in accounts)
    members = sum(a["members"] for a in accounts)
    return f"{channels} channels, the bot is a member of {members}; {state['stats']['joins']} joins so far"


if __name__ == "__main__":
    sys.exit(main())
