"""The production-shaped run on the CeleryExecutor: two workers whose only shared rate budget is Redis.

Redis (Debian's ``redis-server``, with a password) is the Celery broker (database 0) and the pacing store
(database 3: the connection ``truto_pacing`` of type ``redis``, named by the Truto connection's extra
``rate_limit_redis_conn_id``); PostgreSQL is the metadata database and Celery's result backend. Two
``airflow celery worker`` processes, each with its own ``TMPDIR`` and ``TRUTO_RATE_LIMIT_DIR`` (no lock
file is shared between them) and its own hostname, run beside the scheduler, dag-processor, triggerer and
api-server.

The sandbox allows each account one request per 3 s (Truto allows 50 per 10 s: scaled down so that an
everyday run outruns it) and answers 429 with ``Retry-After: 3``. The auto-join DAG runs over ACCOUNTS
accounts with two new channels each: one mapped task per channel, an account's two next to each other, so
they run at the same time, often on different workers. Then the same run over fresh accounts with the
connection's Redis taken away: each worker paces with its own lock files alone, the figure to compare with.

The stack serves this module only and runs first (MODULE_ORDER), before the LocalExecutor stack starts,
so the two never compete for the machine.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import secrets
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_truto.testing import RecordedRequest, TrutoSandbox
from tests.support.redis_server import PACING_DB, RedisServer, start_redis
from tests.support.services import require_binary, require_distribution
from tests.system.airflow_services import REPO, wait_for
from tests.system.leaks import TASK_OUTPUTS, files_with, rows_with
from tests.system.runs import AUTO_JOIN_DAG, JOIN_PATH, AutoJoinRun, Workspace, joins_outcome
from tests.system.stack import airflow_stack, truto_env
from tests.system.worker_host import HOST_ENV

pytestmark = pytest.mark.system
WORKERS = ("worker-a", "worker-b")
WORKER_CONCURRENCY = 2  # the truto pool gets both workers' slots: 4 join tasks at once, as the DAG allows
ACCOUNTS = 20
NEW_PER_ACCOUNT = 2  # 40 channels: at most 64, so one mapped task per channel
ACCOUNT_LIMIT = (1, 3.0)
# The connection's pacing per account. At 95% of a 3-s window (the default) the margin is 0.16 s, less than
# a loaded 2-core machine's scheduling jitter; Truto's real 10-s window leaves 0.5 s, and this keeps that.
ACCOUNT_PACING = "1/3.5"
TOKEN_LIMIT = (500, 10.0)  # Truto's own
RETRY_AFTER = 3
BROKER_DB = 0
PACING_CONN = "truto_pacing"
DATABASE = "airflow_celery"
MAX_LIMITED_SHARE = 0.02
PACING_KEY = re.compile(r"^truto:pacing:[0-9a-f]{20}:(token|account-([0-9a-f]{20}))$")
FALLBACK_WARNING = b"does not answer"
CELERY_PYTHON = (3, 11)


# -- the stack --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def celery_provider() -> None:
    """The Celery provider's releases that Airflow 3.3 needs require Python 3.11 (pyproject's marker):
    on 3.10 the Celery run is skipped, naming why; CI (TRUTO_REQUIRE_SERVICES=1) runs it on 3.11."""
    require_distribution("apache-airflow-providers-celery", python=CELERY_PYTHON)


@pytest.fixture(scope="module")
def redis_broker(system_root: Path) -> Iterator[RedisServer]:
    """Celery's broker and the pacing store: one password-protected Redis, as in a deployment."""
    binary = require_binary("redis-server", debian_package="redis-server")
    directory = system_root / "redis"
    directory.mkdir()
    server = start_redis(binary, directory, password=secrets.token_urlsafe(18))
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="module")
def paced_truto() -> Iterator[TrutoSandbox]:
    """A sandbox of its own that enforces the scaled-down per-account limit (and Truto's token limit)."""
    sandbox = TrutoSandbox(
        "truto-celery-" + uuid.uuid4().hex,
        account_rate_limit=ACCOUNT_LIMIT,
        token_rate_limit=TOKEN_LIMIT,
        rate_limit_retry_after=RETRY_AFTER,
    ).start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


def truto_connection(sandbox: TrutoSandbox, account: str, *, shared_through_redis: bool) -> dict[str, Any]:
    """``truto_default`` for the API: pacing at the sandbox's limits, through Redis or lock files only."""
    conn = sandbox.airflow_connection(account)
    extra = {**conn["extra"], "rate_limit": ACCOUNT_PACING}
    if shared_through_redis:
        extra["rate_limit_redis_conn_id"] = PACING_CONN
    return {
        "connection_id": "truto_default",
        "conn_type": conn["conn_type"],
        "host": conn["host"],
        "password": conn["password"],
        "extra": json.dumps(extra),
    }


def pacing_connection(server: RedisServer) -> dict[str, Any]:
    """The Redis connection the pacing uses: the broker's server, another database, the password field."""
    return {
        "connection_id": PACING_CONN,
        "conn_type": "redis",
        "host": "127.0.0.1",
        "port": server.port,
        "password": server.password,
        "extra": json.dumps({"db": PACING_DB}),
    }


@dataclass
class CeleryStack:
    services: Any
    db: Any
    sandbox: TrutoSandbox
    broker: RedisServer
    idle_account: str
    worker_dirs: dict[str, Path]


@pytest.fixture(scope="module")
def celery_stack(
    system_root: Path,
    postgres: Any,
    redis_broker: RedisServer,
    paced_truto: TrutoSandbox,
    watch_created_after: datetime,
) -> Iterator[CeleryStack]:
    root = system_root / "celery"
    idle = paced_truto.add_account(f"idle-{uuid.uuid4().hex[:8]}").id
    env = truto_env(paced_truto, idle, [idle], watch_created_after)
    # The connections live in the metadata database (the lock-file run edits one), not the environment.
    del env["AIRFLOW_CONN_TRUTO_DEFAULT"]
    env.update(
        {
            "AIRFLOW__CELERY__BROKER_URL": (
                f"redis://:{redis_broker.password}@127.0.0.1:{redis_broker.port}/{BROKER_DB}"
            ),
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + postgres.url_of(DATABASE),
        }
    )
    services: dict[str, list[str]] = {}
    service_env: dict[str, dict[str, str]] = {}
    worker_dirs: dict[str, Path] = {}
    for name in WORKERS:
        home = root / name
        (home / "tmp").mkdir(parents=True)
        worker_dirs[name] = home / "rate-limits"
        services[name] = ["celery", "worker", "--concurrency", str(WORKER_CONCURRENCY)]
        services[name] += ["--celery-hostname", f"{name}@%h"]
        services[name] += ["--skip-serve-logs", "--without-mingle", "--without-gossip"]
        service_env[name] = {
            "TMPDIR": str(home / "tmp"),
            "TRUTO_RATE_LIMIT_DIR": str(worker_dirs[name]),
            # Each worker reports a host of its own in task_instance.hostname.
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.system.worker_host.hostname",
            HOST_ENV: name,
            "PYTHONPATH": str(REPO),
        }
    connections = [
        pacing_connection(redis_broker),
        truto_connection(paced_truto, idle, shared_through_redis=True),
    ]
    with airflow_stack(
        root,
        postgres,
        executor="CeleryExecutor",
        extra_env=env,
        services=services,
        service_env=service_env,
        database=DATABASE,
        connections=connections,
        dag_ids=(AUTO_JOIN_DAG,),
        pool_slots=len(WORKERS) * WORKER_CONCURRENCY,
    ) as (stack, db):
        yield CeleryStack(stack, db, paced_truto, redis_broker, idle, worker_dirs)


# -- the runs ---------------------------------------------------------------------------------------------


@dataclass
class PacedRun:
    """One auto-join run over ACCOUNTS fresh accounts, and what the sandbox and Redis saw of it."""

    run: AutoJoinRun
    state: str
    requests: list[RecordedRequest]
    pacing_keys: set[str]  # the keys seen in the pacing database while the run ran
    broker_db_pacing_keys: set[str]  # pacing keys seen in the broker's database (there should be none)

    @property
    def limited(self) -> int:
        return sum(1 for r in self.requests if r.status == 429)

    def summary(self) -> str:
        hosts = Counter(str(t["hostname"]) for t in self.run.join_tasks())
        joins = {c: n for w in self.run.workspaces for c, n in w.joins().items()}
        expected = {c for w in self.run.workspaces for c in w.expected}
        return (
            f"{len(self.run.workspaces)} accounts, {joins_outcome(joins, expected)};"
            f" {len(self.requests)} requests, {self.limited} answered 429"
            f" ({self.limited / len(self.requests):.1%}{self.limited_when()}); {self.run.seconds():.0f}s;"
            f" closest two requests of one account {self.closest_gap():.2f}s apart"
            f" (limit: 1 per {ACCOUNT_LIMIT[1]:g}s); join tasks per worker:"
            f" {', '.join(f'{h} {n}' for h, n in sorted(hosts.items()))}"
        )

    def limited_after(self) -> list[float]:
        """For each 429: how long after its account's last request let through it arrived."""
        let_through: dict[str, float] = {}
        found = []
        for r in sorted(self.requests, key=lambda r: r.at):
            account = r.query["integrated_account_id"][0]
            if r.status == 429:
                found.append(r.at - let_through[account])
            else:
                let_through[account] = r.at
        return found

    def limited_when(self) -> str:
        after = self.limited_after()
        return f", {min(after):.2f}-{max(after):.2f}s after a request let through" if after else ""

    def closest_gap(self) -> float:
        """The shortest time between two requests of one account that the sandbox let through."""
        by_account: dict[str, list[float]] = {}
        for r in self.requests:
            if r.status != 429:
                by_account.setdefault(r.query["integrated_account_id"][0], []).append(r.at)
        gaps = [b - a for times in by_account.values() for a, b in itertools.pairwise(sorted(times))]
        return min(gaps)


def paced_run(celery: CeleryStack, name: str, seed: int) -> PacedRun:
    workspaces = [
        Workspace.create(
            celery.sandbox, f"{name}-{n}", old=8, new=NEW_PER_ACCOUNT, new_mixed=False, seed=seed + 2 * n
        )
        for n in range(ACCOUNTS)
    ]
    pacing, broker = celery.broker.client(PACING_DB), celery.broker.client(BROKER_DB)
    pacing_keys: set[str] = set()
    broker_keys: set[str] = set()
    run = AutoJoinRun(celery.services, celery.db, workspaces, name)

    def finished() -> str | None:
        # Budget keys expire seconds after their last use: look while the run goes on.
        pacing_keys.update(key.decode() for key in pacing.scan_iter(count=1000))
        broker_keys.update(key.decode() for key in broker.scan_iter(match="truto:*", count=1000))
        return run.finished()

    try:
        state = wait_for(f"run {run.run_id}", finished, timeout=240, interval=0.5)
    except TimeoutError:
        celery.services.api.fail_run(AUTO_JOIN_DAG, run.run_id)
        raise
    accounts = {w.account for w in workspaces}
    requests = [
        r for r in celery.sandbox.requests if r.query.get("integrated_account_id", [""])[0] in accounts
    ]
    return PacedRun(run, state, requests, pacing_keys, broker_keys)


@pytest.fixture(scope="module")
def redis_run(celery_stack: CeleryStack) -> PacedRun:
    return paced_run(celery_stack, "celery-redis", seed=100)


@pytest.fixture(scope="module")
def lock_file_run(celery_stack: CeleryStack, redis_run: PacedRun) -> PacedRun:
    """After the Redis run: the same run with the connection's ``rate_limit_redis_conn_id`` removed."""
    api = celery_stack.services.api
    api.set_connection(
        truto_connection(celery_stack.sandbox, celery_stack.idle_account, shared_through_redis=False)
    )
    try:
        return paced_run(celery_stack, "celery-lock-files", seed=300)
    finally:
        api.set_connection(
            truto_connection(celery_stack.sandbox, celery_stack.idle_account, shared_through_redis=True)
        )


# -- the Redis run: exact, on both workers, within the budget ---------------------------------------------


def test_the_run_joins_every_new_channel_once_and_nothing_else(redis_run: PacedRun, figure: Any) -> None:
    figure(f"CeleryExecutor, 2 workers, pacing shared through Redis: {redis_run.summary()}")
    assert redis_run.state == "success"
    for workspace in redis_run.run.workspaces:
        assert workspace.joins() == dict.fromkeys(workspace.expected, 1)
        assert {r.body["channel"]["id"] for r in workspace.join_requests()} == workspace.expected
    report = redis_run.run.report()
    total = ACCOUNTS * NEW_PER_ACCOUNT
    assert (report["joined"], report["skipped"], report["failed"]) == (total, 0, 0)


def test_join_tasks_ran_on_both_workers_one_channel_each(redis_run: PacedRun) -> None:
    tasks = redis_run.run.join_tasks()
    assert len(tasks) == ACCOUNTS * NEW_PER_ACCOUNT
    assert {t["state"] for t in tasks} == {"success"}
    assert Counter(t["hostname"] for t in tasks).keys() == set(WORKERS)


def test_at_most_two_percent_of_requests_are_answered_429(redis_run: PacedRun) -> None:
    joins = [r for r in redis_run.requests if r.path == JOIN_PATH]
    assert len(joins) >= ACCOUNTS * NEW_PER_ACCOUNT
    assert redis_run.limited <= MAX_LIMITED_SHARE * len(redis_run.requests)


def test_the_budgets_lived_in_redis_under_hashed_keys_beside_the_broker(
    redis_run: PacedRun, celery_stack: CeleryStack
) -> None:
    assert redis_run.pacing_keys, "no pacing key was ever seen in Redis"
    matches = [PACING_KEY.match(key) for key in redis_run.pacing_keys]
    assert all(matches), f"keys not of the hashed form: {redis_run.pacing_keys}"
    accounts = {m.group(2) for m in matches if m and m.group(2)}
    run_accounts = [w.account for w in redis_run.run.workspaces]
    # Every account's budget, and no other (but the hourly runs' empty default account), was in Redis.
    hashed = {account_hash(a) for a in run_accounts}
    assert accounts - {account_hash(celery_stack.idle_account)} == hashed
    assert any(key.endswith(":token") for key in redis_run.pacing_keys)
    assert redis_run.broker_db_pacing_keys == set()  # the broker's database never saw one
    worker_logs = [celery_stack.services.log(name) for name in WORKERS]
    task_logs = [p for p in (celery_stack.services.home / "logs").rglob("*") if p.is_file()]
    assert [str(p) for p in [*worker_logs, *task_logs] if FALLBACK_WARNING in p.read_bytes()] == []


def account_hash(account: str) -> str:
    return hashlib.sha256(account.encode()).hexdigest()[:20]


# -- the same run with lock files only: the budget is spent twice ----------------------------------------


def test_with_lock_files_only_the_workers_overrun_the_accounts(
    celery_stack: CeleryStack, redis_run: PacedRun, lock_file_run: PacedRun, figure: Any
) -> None:
    figure(f"CeleryExecutor, 2 workers, lock files only (no Redis): {lock_file_run.summary()}")
    assert lock_file_run.state == "success"
    # Redis was not used (the keys of the run before may still be there a few seconds).
    assert {account_hash(w.account) for w in lock_file_run.run.workspaces}.isdisjoint(
        {m.group(2) for m in map(PACING_KEY.match, lock_file_run.pacing_keys) if m}
    )
    # Each worker paced with lock files of its own.
    assert all(any(path.iterdir()) for path in celery_stack.worker_dirs.values())
    assert lock_file_run.limited > MAX_LIMITED_SHARE * len(lock_file_run.requests)
    assert lock_file_run.limited > redis_run.limited
    # Still exact: the 429s cost time, never a join.
    for workspace in lock_file_run.run.workspaces:
        assert workspace.joins() == dict.fromkeys(workspace.expected, 1)


# -- secrets ----------------------------------------------------------------------------------------------


def test_the_token_and_the_redis_password_are_in_no_log(
    celery_stack: CeleryStack, postgres: Any, redis_run: PacedRun, lock_file_run: PacedRun
) -> None:
    services = celery_stack.services
    task_logs = [p for p in (services.home / "logs").rglob("*") if p.is_file()]
    service_logs = [*services.logs.glob("*.log"), postgres.log]
    assert any("task_id=join_channels" in str(p) for p in task_logs)
    assert {services.log(name) for name in WORKERS} <= set(service_logs)
    assert files_with([*task_logs, *service_logs], celery_stack.sandbox.token) == []
    assert files_with([*task_logs, *service_logs], str(celery_stack.broker.password)) == []


@pytest.mark.parametrize(("table", "column"), [o for o in TASK_OUTPUTS if o[0] != "asset_event"])
def test_the_token_is_in_no_task_output_run_conf_or_audit_log(
    celery_stack: CeleryStack, redis_run: PacedRun, lock_file_run: PacedRun, table: str, column: str
) -> None:
    db = celery_stack.db
    assert db.value(f"SELECT count(*) FROM {table}") > 0
    assert rows_with(db, table, column, celery_stack.sandbox.token) == 0
    assert rows_with(db, table, column, str(celery_stack.broker.password)) == 0
