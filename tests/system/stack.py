"""The Airflow stack a system test runs on, and what the example DAGs read from the environment.

Helpers, not fixtures: ``conftest.py`` builds its session stack with :func:`airflow_stack`, and a test
that needs a stack of its own (the Celery run) calls it directly.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow_provider_truto.testing import TrutoSandbox
from tests.system.runs import AUTO_JOIN_DAG, EVENT_DAG, WEBHOOK_AUTO_JOIN_DAG, WEBHOOK_CHANNEL_DAG

POOL = "truto"
POOL_SLOTS = 3
WATCH_POLL_SECONDS = 2.0
ACTIVE: list[Any] = []  # the running AirflowServices, for a failing test's report
# The DAGs the session's LocalExecutor stack unpauses: the auto-join, the watcher's and the webhooks'.
LOCAL_DAGS = (AUTO_JOIN_DAG, EVENT_DAG, WEBHOOK_AUTO_JOIN_DAG, WEBHOOK_CHANNEL_DAG)


def truto_env(
    sandbox: TrutoSandbox, default_account: str, watch_accounts: Sequence[str], watch_created_after: datetime
) -> dict[str, str]:
    """What the example DAGs read from the environment, pointed at the sandbox."""
    return {
        "AIRFLOW_CONN_TRUTO_DEFAULT": sandbox.airflow_conn_env(default_account),
        "TRUTO_POOL": POOL,
        "TRUTO_JOIN_RETRY_DELAY_SECONDS": "2",
        # A fleet of its own: the sandbox's other accounts belong to other tests.
        "TRUTO_WATCH_INTEGRATED_ACCOUNT_IDS": ",".join(watch_accounts),
        "TRUTO_WATCH_CREATED_AFTER": watch_created_after.isoformat(),
        "TRUTO_WATCH_POLL_SECONDS": f"{WATCH_POLL_SECONDS:g}",
        # The event DAG's join tasks take Airflow's default retry delay (300 s): a few seconds here.
        "AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY": "3",
    }


@contextlib.contextmanager
def airflow_stack(
    root: Path,
    cluster: Any,
    *,
    executor: str = "LocalExecutor",
    extra_env: Mapping[str, str] | None = None,
    services: Mapping[str, Sequence[str]] | None = None,
    service_env: Mapping[str, Mapping[str, str]] | None = None,
    database: str = "airflow",
    connections: Sequence[Mapping[str, Any]] = (),
    dag_ids: Sequence[str] = (AUTO_JOIN_DAG, EVENT_DAG),
    pool_slots: int = POOL_SLOTS,
) -> Iterator[tuple[Any, Any]]:
    """A migrated metadata database and every service started, the DAGs parsed and unpaused, the pool made.

    ``database`` names the cluster's database to use (created unless it is the cluster's own ``airflow``),
    so two stacks can share one cluster; ``connections`` are created through the API before any DAG is
    unpaused. An unpaused event-driven DAG's AssetWatcher starts at the next parse of its file (within 30 s).

    Yields ``(services, db)``; everything is stopped on the way out, whatever happened.
    """
    from tests.system.airflow_services import AirflowServices, wait_for
    from tests.system.postgres import MetadataDb

    if database != "airflow":
        cluster.create_database(database)
    stack = AirflowServices(
        root,
        database_url=cluster.url_of(database),
        executor=executor,
        extra_env=extra_env,
        services=services,
        service_env=service_env,
    )
    db = None
    previous = signal.signal(signal.SIGTERM, _interrupted)
    ACTIVE.append(stack)
    try:
        stack.migrate()
        db = MetadataDb(cluster, database)
        stack.start()

        def parsed() -> bool:
            stack.check_alive()
            errors = db.rows("SELECT filename, stacktrace FROM import_error")
            if errors:
                raise RuntimeError(f"example DAGs failed to import: {errors}")
            found = {row[0] for row in db.rows("SELECT dag_id FROM serialized_dag")}
            return set(dag_ids) <= found

        wait_for("the example DAGs to be parsed", parsed, timeout=240, interval=2)
        wait_for("the api-server", stack.api.healthy, timeout=120, interval=1)
        stack.api.login()
        stack.api.set_pool(POOL, pool_slots, "Truto API")
        for connection in connections:
            stack.api.set_connection(connection)
        for dag_id in dag_ids:
            stack.api.unpause(dag_id)
        yield stack, db
    finally:
        stack.stop()
        if db is not None:
            db.close()
        ACTIVE.remove(stack)
        signal.signal(signal.SIGTERM, previous)


def _interrupted(signum: int, frame: Any) -> None:
    # CI's timeout sends SIGTERM: unwind through the fixtures so every service is stopped.
    raise KeyboardInterrupt(f"signal {signum}")
