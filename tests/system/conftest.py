"""System tests: PostgreSQL, Airflow's scheduler, dag-processor, triggerer and api-server, and the sandbox.

Marked ``system`` and left out of a plain ``pytest`` / ``make test``: select them with ``pytest -m system``
(``make production-run``). One stack serves the whole session; each test works on its own sandbox account,
so tests do not see each other's channels. Every process started here is stopped at the end, on failure too,
and a failing test's report carries the tails of the service logs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_truto.testing import TrutoSandbox
from tests.services import require_binary
from tests.system.runs import AUTO_JOIN_DAG, EVENT_DAG

SYSTEM_MARK = "system"
POOL = "truto"
POOL_SLOTS = 3
WATCH_POLL_SECONDS = 2.0
# The modules in the order they run: the Celery run first (its stack is stopped before the LocalExecutor
# stack starts, so the two never share the machine), the token scan last, over every run's logs.
MODULE_ORDER = (
    "test_celery_run",
    "test_everyday_run",
    "test_killed_join_task",
    "test_truto_outage",
    "test_scheduler_restart",
    "test_triggerer_restart",
    "test_token_nowhere",
)
_FIGURES = pytest.StashKey[list[str]]()
_ACTIVE: list[Any] = []  # the running AirflowServices, for the failure report


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave the system tests out unless ``-m`` names them; run the selected ones in MODULE_ORDER."""
    if SYSTEM_MARK not in (config.option.markexpr or ""):
        kept = [item for item in items if item.get_closest_marker(SYSTEM_MARK) is None]
        if len(kept) < len(items):
            config.hook.pytest_deselected(items=[i for i in items if i not in kept])
            items[:] = kept
        return

    def position(item: pytest.Item) -> int:
        module = getattr(item, "module", None)
        name = module.__name__.rsplit(".", 1)[-1] if module else ""
        return MODULE_ORDER.index(name) if name in MODULE_ORDER else len(MODULE_ORDER)

    items.sort(key=position)  # stable: tests keep their order within a module


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_FIGURES] = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed and _ACTIVE and item.get_closest_marker(SYSTEM_MARK):
        report.sections.append(("Airflow service logs", _ACTIVE[-1].log_tails()))
    return report


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    figures = config.stash.get(_FIGURES, [])
    if figures:
        terminalreporter.section("reliability figures")
        for line in figures:
            terminalreporter.write_line(line)


@pytest.fixture
def figure(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Record one line for the terminal summary's table of figures (and print it)."""

    def record(line: str) -> None:
        print(line)
        request.config.stash[_FIGURES].append(line)

    return record


# -- the stack --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def system_root() -> Iterator[Path]:
    """A directory for the cluster, the AIRFLOW_HOME and the logs; removed at the end.

    Set TRUTO_KEEP_SYSTEM_DIR=1 to keep it. Made with mkdtemp (not pytest's tmp_path, whose parent is
    private to the user): as root, PostgreSQL runs as the postgres user and must reach its cluster inside.
    """
    root = Path(tempfile.mkdtemp(prefix="truto-system-"))
    root.chmod(0o755)
    yield root
    if os.environ.get("TRUTO_KEEP_SYSTEM_DIR") == "1":
        print(f"kept {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres(system_root: Path) -> Iterator[Any]:
    from tests.system.airflow_services import free_port
    from tests.system.postgres import PostgresCluster

    initdb = require_binary("initdb", debian_package="postgresql", search="/usr/lib/postgresql/*/bin/initdb")
    # The server's own bin directory (initdb on PATH may be a symlink into it), where pg_ctl and psql are too.
    cluster = PostgresCluster(Path(initdb).resolve().parent, system_root / "pg", free_port())
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def truto(system_root: Path) -> Iterator[TrutoSandbox]:
    """The sandbox every Airflow process talks to, in this process: tests read its request log directly."""
    sandbox = TrutoSandbox("truto-system-" + uuid.uuid4().hex).start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture(scope="session")
def watch_account(truto: TrutoSandbox) -> str:
    """The account the event-driven DAG's AssetWatcher watches (its kwargs are fixed at parse time)."""
    return truto.add_account(f"watched-{uuid.uuid4().hex[:8]}").id


@pytest.fixture(scope="session")
def idle_account(truto: TrutoSandbox) -> str:
    """The connection's default account: empty, so the auto-join DAG's own hourly runs join nothing.

    (Asset-triggered runs need the scheduler's job schedule, so scheduled runs of the hourly DAG happen
    too: one when it is unpaused, one at each full hour. Test runs name their account in the run conf.)
    """
    return truto.add_account(f"idle-{uuid.uuid4().hex[:8]}").id


@pytest.fixture(scope="session")
def watch_created_after() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=1)


def truto_env(
    sandbox: TrutoSandbox, default_account: str, watch_account: str, watch_created_after: datetime
) -> dict[str, str]:
    """What the example DAGs read from the environment, pointed at the sandbox."""
    return {
        "AIRFLOW_CONN_TRUTO_DEFAULT": sandbox.airflow_conn_env(default_account),
        "TRUTO_POOL": POOL,
        "TRUTO_JOIN_RETRY_DELAY_SECONDS": "2",
        "TRUTO_WATCH_INTEGRATED_ACCOUNT_ID": watch_account,
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
    _ACTIVE.append(stack)
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
        _ACTIVE.remove(stack)
        signal.signal(signal.SIGTERM, previous)


def _interrupted(signum: int, frame: Any) -> None:
    # CI's timeout sends SIGTERM: unwind through the fixtures so every service is stopped.
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session")
def local_stack(
    system_root: Path,
    postgres: Any,
    truto: TrutoSandbox,
    idle_account: str,
    watch_account: str,
    watch_created_after: datetime,
) -> Iterator[tuple[Any, Any]]:
    """Airflow with the LocalExecutor on PostgreSQL, every service a process of its own."""
    env = truto_env(truto, idle_account, watch_account, watch_created_after)
    with airflow_stack(system_root / "local", postgres, extra_env=env) as stack_and_db:
        yield stack_and_db


@pytest.fixture(scope="session")
def stack(local_stack: tuple[Any, Any]) -> Any:
    """The Airflow services the tests drive (a Celery variant can override this fixture)."""
    return local_stack[0]


@pytest.fixture(scope="session")
def db(local_stack: tuple[Any, Any]) -> Any:
    return local_stack[1]
