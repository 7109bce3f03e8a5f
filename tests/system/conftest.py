"""System tests: PostgreSQL, Airflow's scheduler, dag-processor, triggerer and api-server, and the sandbox.

Marked ``system`` and left out of a plain ``pytest`` / ``make test``: select them with ``pytest -m system``
(``make production-run``). One stack serves the whole session; each test works on its own sandbox account,
so tests do not see each other's channels. Every process started here is stopped at the end, on failure too,
and a failing test's report carries the tails of the service logs.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_truto.testing import TrutoSandbox
from tests.support.services import require_binary
from tests.system.stack import ACTIVE, LOCAL_DAGS, airflow_stack, truto_env

SYSTEM_MARK = "system"
# The modules in the order they run: the Celery run first (its stack is stopped before the LocalExecutor
# stack starts, so the two never share the machine), the token scan last, over every run's logs.
MODULE_ORDER = (
    "test_celery_run",
    "test_everyday_run",
    "test_killed_join_task",
    "test_truto_outage",
    "test_scheduler_restart",
    "test_triggerer_restart",
    "test_webhooks",
    "test_token_nowhere",
)
_FIGURES = pytest.StashKey[list[str]]()


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
    if report.failed and ACTIVE and item.get_closest_marker(SYSTEM_MARK):
        report.sections.append(("Airflow service logs", ACTIVE[-1].log_tails()))
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
def watch_accounts(truto: TrutoSandbox) -> list[str]:
    """The workspaces the event-driven DAG's AssetWatcher watches (its kwargs are fixed at parse time)."""
    tag = uuid.uuid4().hex[:8]
    return [truto.add_account(f"watched-{tag}-{n}").id for n in range(3)]


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


@pytest.fixture(scope="session")
def local_stack(
    system_root: Path,
    postgres: Any,
    truto: TrutoSandbox,
    idle_account: str,
    watch_accounts: list[str],
    watch_created_after: datetime,
) -> Iterator[tuple[Any, Any]]:
    """Airflow with the LocalExecutor on PostgreSQL, every service a process of its own."""
    env = truto_env(truto, idle_account, watch_accounts, watch_created_after)
    with airflow_stack(system_root / "local", postgres, extra_env=env, dag_ids=LOCAL_DAGS) as stack_and_db:
        yield stack_and_db


@pytest.fixture(scope="session")
def stack(local_stack: tuple[Any, Any]) -> Any:
    """The Airflow services the tests drive (a Celery variant can override this fixture)."""
    return local_stack[0]


@pytest.fixture(scope="session")
def db(local_stack: tuple[Any, Any]) -> Any:
    return local_stack[1]
