"""A production-shaped run of the auto-join example DAG, checked from the outside.

    .venv/bin/python scripts/production_run.py [--channels 400] [--new-channels 48] [--seed 7] [--keep]

What it builds, all under one temporary directory and on 127.0.0.1 only:

- a throwaway PostgreSQL cluster (Debian's ``postgresql`` package is installed if missing; ``initdb`` and
  ``pg_ctl`` run as the ``postgres`` user when this script runs as root) with an ``airflow`` database;
- ``psycopg2-binary`` and ``asyncpg`` in this venv if they are missing;
- an AIRFLOW_HOME for Airflow 3 with the LocalExecutor, the metadata database on that cluster, the
  ``example_dags`` folder, a ``truto`` pool of 3 slots, and the scheduler, dag-processor, triggerer and
  api-server as separate processes;
- the sandbox (``python -m airflow_provider_truto.testing``) with one Slack workspace of 400 mixed channels,
  ``AIRFLOW_CONN_TRUTO_DEFAULT`` pointing at it.

Then it triggers ``example_truto_auto_join_channels`` with a ``created_after`` that leaves 48 joinable
channels new (an everyday run: one mapped task per channel) and waits for the run. Checks: (a) exactly
those channels (public, active, bot not a member, created after the cutoff) were joined, each once, and no
older one; (b) one mapped ``join_channels`` instance per planned batch, all in the ``truto`` pool, more than
one running at a time and never more than the pool's slots; (c) the API token is in no task log, no service
log, and no XCom, rendered field, run conf or audit-log row. ``--new-channels 0`` makes every joinable
channel new (a first run; the DAG then batches, so fewer mapped tasks).
Everything it started is stopped and removed at the end, on failure too (``--keep`` keeps the directory).
Exits 0 when every check passes, 1 when one fails, 2 when the set-up fails.
"""

from __future__ import annotations

import argparse
import base64
import glob
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DAG_ID = "example_truto_auto_join_channels"
JOIN_TASK = "join_channels"
POOL = "truto"
CHANNELS_PATH = "/unified/instant-messaging/channels"
PSQL_ARGS = ["-v", "ON_ERROR_STOP=1", "-qAt"]
# Not sys.executable resolved: a venv's python is a symlink, and the venv is what we want.
PYTHON = Path(sys.executable)
AIRFLOW = PYTHON.with_name("airflow")
STARTED = time.monotonic()


class SetupError(Exception):
    """The environment could not be built; no check has run."""


def say(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:6.1f}s] {message}", flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(command: Sequence[str], *, timeout: float = 300, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a command to completion; a non-zero exit raises SetupError with its output."""
    result = subprocess.run(
        list(command), capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )
    if result.returncode != 0:
        raise SetupError(
            f"{' '.join(command)} exited {result.returncode}:\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


# -- PostgreSQL ---------------------------------------------------------------------------------------------


def postgres_bin() -> Path:
    """The newest PostgreSQL server's bin directory, installing Debian's package if there is none."""

    def find() -> Path | None:
        found = sorted(
            glob.glob("/usr/lib/postgresql/*/bin/initdb"),
            key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
        )
        if found:
            return Path(found[-1]).parent
        initdb = shutil.which("initdb")
        return Path(initdb).parent if initdb else None

    found = find()
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise SetupError("PostgreSQL is not installed; run as root on Debian or install it yourself")
    say("installing PostgreSQL from Debian's packages")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update", "-q"], timeout=300, env=env)
    run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "postgresql"], timeout=600, env=env)
    found = find()
    if not found:
        raise SetupError("apt-get installed postgresql but no initdb was found")
    return found


class Postgres:
    """A throwaway cluster in ``root``, on 127.0.0.1:``port``, with database and role ``airflow``."""

    def __init__(self, root: Path, port: int) -> None:
        self.bin = postgres_bin()
        self.root = root
        self.data = root / "data"
        self.port = port
        self.password = secrets.token_urlsafe(18)
        self.started = False
        # postgres refuses to run as root: as root, run the server tools as the postgres user.
        self.as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://airflow:{self.password}@127.0.0.1:{self.port}/airflow"

    def tool(self, name: str, *args: str) -> list[str]:
        return [*self.as_owner, str(self.bin / name), *args]

    def start(self) -> None:
        self.root.mkdir(mode=0o700)
        if self.as_owner:
            shutil.chown(self.root, "postgres", "postgres")
        auth = ["--auth-local=trust", "--auth-host=scram-sha-256"]
        run(self.tool("initdb", "-D", str(self.data), "-U", "postgres", *auth, "-E", "UTF8", "--no-sync"))
        # A throwaway cluster: durability off, loopback only, room for every Airflow process's pool.
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=200"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        log = str(self.root / "postgres.log")
        run(self.tool("pg_ctl", "-D", str(self.data), "-l", log, "-o", options, "-w", "-t", "60", "start"))
        self.started = True
        # Local socket, trusted: create the role and database Airflow uses over TCP with a password.
        self.superuser_sql(f"CREATE ROLE airflow LOGIN PASSWORD '{self.password}'")
        self.superuser_sql("CREATE DATABASE airflow OWNER airflow")

    def superuser_sql(self, sql: str) -> None:
        where = ["-h", str(self.root), "-p", str(self.port), "-U", "postgres", "-d", "postgres"]
        run(self.tool("psql", *where, *PSQL_ARGS, "-c", sql))

    def query(self, sql: str) -> list[list[str]]:
        """Rows of ``sql`` as the airflow role, over TCP, each a list of text fields."""
        command = [str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), *PSQL_ARGS]
        env = {**os.environ, "PGPASSWORD": self.password}
        result = run([*command, "-U", "airflow", "-d", "airflow", "-F", "\t", "-c", sql], env=env)
        return [line.split("\t") for line in result.stdout.splitlines() if line]

    def stop(self) -> None:
        if self.started:
            command = self.tool("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
            subprocess.run(command, capture_output=True, timeout=60, check=False)
            self.started = False


DRIVERS = {"psycopg2": "psycopg2-binary", "asyncpg": "asyncpg"}  # Airflow 3 opens a sync and an async engine


def ensure_drivers() -> None:
    """PostgreSQL drivers in this venv, by pip or uv, whichever the venv has (the Makefile's has both)."""
    probe = [str(PYTHON), "-c", "import " + ", ".join(DRIVERS)]
    if subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return
    packages = list(DRIVERS.values())
    say(f"installing {' '.join(packages)} into the venv")
    attempts: list[list[str]] = [
        [str(PYTHON), "-m", "uv", "pip", "install", "-q", "-p", str(PYTHON), *packages],
        [str(PYTHON), "-m", "pip", "install", "-q", "--disable-pip-version-check", *packages],
    ]
    if shutil.which("uv"):
        attempts.append(["uv", "pip", "install", "-q", "-p", str(PYTHON), *packages])
    errors = []
    for command in attempts:
        result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
        if result.returncode == 0 and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
            return
        errors.append(f"{' '.join(command[:4])}: {result.stderr.strip()[-300:]}")
    # Last resort: a venv made without pip gets one.
    run([str(PYTHON), "-m", "ensurepip", "-q"], timeout=300)
    run(attempts[1], timeout=300)
    if subprocess.run(probe, capture_output=True, check=False).returncode != 0:
        raise SetupError("could not install the PostgreSQL drivers:\n" + "\n".join(errors))


# -- processes ----------------------------------------------------------------------------------------------


class Service:
    """A background process in its own process group, output to a log file; stop() ends the whole group."""

    def __init__(self, name: str, command: Sequence[str], log: Path, env: dict[str, str]) -> None:
        self.name = name
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                list(command),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
                cwd=log.parent,
            )

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        for sig, wait in ((signal.SIGTERM, 30.0), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                # The leader may be gone while its children (executor workers, task runners) live on.
                if self.process.poll() is not None and not group_alive(self.process.pid):
                    return
                time.sleep(0.2)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Sandbox:
    """``python -m airflow_provider_truto.testing`` as a process; reads its URL and connection from stdout."""

    def __init__(self, log: Path, *, token: str, account: str, channels: int, seed: int) -> None:
        self.token = token
        self.account = account
        self.log = log
        options = ["--port", "0", "--token", token, "--account", account]
        options += ["--channels", str(channels), "--seed", str(seed)]
        command = [str(PYTHON), "-m", "airflow_provider_truto.testing", *options]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=log.open("wb"),
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        self.url = ""
        self.conn = ""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            key, _, value = line.strip().partition("=")
            if key == "TRUTO_SANDBOX_URL":
                self.url = value
            elif key == "AIRFLOW_CONN_TRUTO_DEFAULT":
                self.conn = value
            elif line.strip() == "ready":
                break
        if not (self.url and self.conn):
            raise SetupError(f"the sandbox did not start; see {log}")

    def get(self, path: str) -> Any:
        request = urllib.request.Request(self.url + path, headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def channels(self) -> Iterator[dict[str, Any]]:
        cursor = ""
        while True:
            page = self.get(
                f"{CHANNELS_PATH}?integrated_account_id={self.account}&limit=200"
                + (f"&next_cursor={cursor}" if cursor else "")
            )
            yield from page["result"]
            cursor = page.get("next_cursor") or ""
            if not cursor:
                return

    def state(self) -> dict[str, Any]:
        return dict(self.get("/_sandbox/state"))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


# -- the run ------------------------------------------------------------------------------------------------


def airflow_env(home: Path, db_url: str, api_port: int, conn: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_")}
    env["PATH"] = f"{PYTHON.parent}{os.pathsep}{env.get('PATH', '')}"
    base_url = f"http://127.0.0.1:{api_port}"
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db_url,
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "8",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "example_dags"),
            "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base_url}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__BASE_URL": base_url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(48),
            # Only the run this script triggers: no scheduled run appears when the DAG is unpaused.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
            "AIRFLOW_CONN_TRUTO_DEFAULT": conn,
            "TRUTO_POOL": POOL,
            "TRUTO_RATE_LIMIT_DIR": str(home / "rate-limits"),
        }
    )
    return env


def wait_for(
    what: str, check: Any, *, timeout: float, interval: float = 2.0, services: Sequence[Service] = ()
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        for service in services:
            if not service.alive():
                raise SetupError(
                    f"{service.name} exited {service.process.returncode} while waiting for {what}"
                )
        if time.monotonic() > deadline:
            raise SetupError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def max_overlap(intervals: Sequence[tuple[float, float]]) -> int:
    """The most intervals open at one instant; one ending as another starts do not overlap."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, step in events:  # at equal times -1 sorts before +1
        running += step
        peak = max(peak, running)
    return peak


def plan_expectation(channels: Sequence[dict[str, Any]], new: int) -> tuple[str, set[str], int]:
    """A ``created_after`` that leaves ``new`` joinable channels newer than it (0: all of them).

    An everyday run's shape: a workspace of hundreds of channels, a few dozen of them new. Joinable means
    public, active and the bot not a member; the older joinable ones must be left alone.
    """
    joinable = sorted(
        (c for c in channels if c["type"] == "channel" and c["status"] == "active" and not c["is_member"]),
        key=lambda c: created(c["created_at"]),
        reverse=True,
    )
    # Strictly after the (new+1)-th newest: the `new` newest (fewer on a tie of whole seconds).
    cutoff = joinable[new]["created_at"] if 0 < new < len(joinable) else "2000-01-01T00:00:00Z"
    expected = {c["id"] for c in joinable if created(c["created_at"]) > created(cutoff)}
    return cutoff, expected, len(joinable)


def created(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def xcom(pg: Postgres, run_id: str, task_id: str, key: str) -> Any:
    rows = pg.query(
        f"SELECT value::text FROM xcom WHERE dag_id = '{DAG_ID}' AND run_id = '{run_id}'"
        f" AND task_id = '{task_id}' AND key = '{key}' AND map_index = -1"
    )
    if not rows:
        return None
    value = json.loads(rows[0][0])
    # Some releases store the serialised JSON as a JSON string.
    return json.loads(value) if isinstance(value, str) else value


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as error:
        return f"({error})"


class Checks:
    def __init__(self) -> None:
        self.results: list[tuple[str, bool, str]] = []

    def add(self, name: str, ok: bool, detail: str) -> None:
        self.results.append((name, ok, detail))
        say(f"{'PASS' if ok else 'FAIL'} {name}: {detail}")

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(ok for _, ok, _ in self.results)


def production_run(args: argparse.Namespace, work: Path, checks: Checks, cleanup: list[Any]) -> None:
    home = work / "airflow"
    home.mkdir()
    logs = work / "service-logs"
    logs.mkdir()

    pg = Postgres(work / "pg", free_port())
    cleanup.append(pg.stop)
    say(f"PostgreSQL ({pg.bin.parent.name}): initdb and start on 127.0.0.1:{pg.port}")
    pg.start()
    ensure_drivers()

    token = "truto-prod-run-" + secrets.token_hex(16)
    account = str(uuid.uuid4())
    sandbox = Sandbox(
        logs / "sandbox.log", token=token, account=account, channels=args.channels, seed=args.seed
    )
    cleanup.append(sandbox.stop)
    say(f"sandbox at {sandbox.url}: {args.channels} channels, seed {args.seed}")
    conn = json.loads(sandbox.conn)
    if conn["extra"].get("rate_limit") != "off" or conn["extra"].get("token_rate_limit") != "off":
        raise SetupError(f"expected the sandbox connection to turn pacing off, got {conn['extra']}")
    channels = list(sandbox.channels())
    created_after, expected, eligible = plan_expectation(channels, args.new_channels)
    before = sandbox.state()["join_counts"].get(account, {})
    if before or len(expected) < 2:
        raise SetupError(f"unexpected sandbox start state: {len(expected)} new channels, joins {before}")

    api_port = free_port()
    env = airflow_env(home, pg.url, api_port, sandbox.conn)
    say("airflow db migrate")
    run([str(AIRFLOW), "db", "migrate"], env=env, timeout=300)
    run([str(AIRFLOW), "pools", "set", POOL, str(args.pool_slots), "Truto API"], env=env, timeout=120)

    services = [
        Service(name, [str(AIRFLOW), *command], logs / f"{name}.log", env)
        for name, command in (
            ("scheduler", ["scheduler"]),
            ("dag-processor", ["dag-processor"]),
            ("triggerer", ["triggerer"]),
            ("api-server", ["api-server", "--host", "127.0.0.1", "--port", str(api_port)]),
        )
    ]
    cleanup.append(lambda: [service.stop() for service in reversed(services)])
    say("started scheduler, dag-processor, triggerer, api-server")

    def parsed() -> bool:
        errors = pg.query(f"SELECT stacktrace FROM import_error WHERE filename LIKE '%{DAG_ID}%'")
        if errors:
            raise SetupError(f"{DAG_ID} failed to import:\n{errors[0][0]}")
        return bool(pg.query(f"SELECT 1 FROM serialized_dag WHERE dag_id = '{DAG_ID}'"))

    wait_for(f"{DAG_ID} to be parsed", parsed, timeout=240, services=services)
    wait_for(
        "the api-server",
        lambda: http_ok(f"http://127.0.0.1:{api_port}/api/v2/monitor/health"),
        timeout=120,
        services=services,
    )
    say(f"{DAG_ID} parsed, api-server healthy")

    run_id = f"production_run__{int(time.time())}"
    run([str(AIRFLOW), "dags", "unpause", DAG_ID], env=env, timeout=120)
    run(
        [
            str(AIRFLOW),
            "dags",
            "trigger",
            DAG_ID,
            "--run-id",
            run_id,
            "--conf",
            json.dumps({"created_after": created_after}),
        ],
        env=env,
        timeout=120,
    )
    say(
        f"triggered {run_id} with created_after {created_after}: {len(expected)} new of {eligible} joinable"
        f" of {len(channels)} channels"
    )

    def finished() -> str | None:
        rows = pg.query(f"SELECT state FROM dag_run WHERE dag_id = '{DAG_ID}' AND run_id = '{run_id}'")
        state = rows[0][0] if rows else ""
        return state if state in ("success", "failed") else None

    last_report = [0.0]

    def progress() -> str | None:
        state = finished()
        if state is None and time.monotonic() - last_report[0] > 30:
            last_report[0] = time.monotonic()
            counts = pg.query(
                f"SELECT coalesce(state, 'none'), count(*) FROM task_instance WHERE dag_id = '{DAG_ID}'"
                f" AND run_id = '{run_id}' AND task_id = '{JOIN_TASK}' GROUP BY 1 ORDER BY 1"
            )
            say("  join_channels: " + (", ".join(f"{s} {n}" for s, n in counts) or "not mapped yet"))
        return state

    state = wait_for(f"run {run_id} to finish", progress, timeout=args.timeout, services=services)
    run_seconds = pg.query(
        f"SELECT extract(epoch FROM end_date - start_date) FROM dag_run WHERE run_id = '{run_id}'"
    )[0][0]
    checks.add("dag run", state == "success", f"{state} in {float(run_seconds):.1f}s")

    # (a) the right channels, each joined once
    joins: dict[str, int] = sandbox.state()["join_counts"].get(account, {})
    missing = expected - joins.keys()
    extra = joins.keys() - expected
    repeated = {cid: n for cid, n in joins.items() if n != 1}
    checks.add(
        "joined exactly the new joinable channels, once each",
        not missing and not extra and not repeated,
        f"{len(joins)} joined of {len(expected)} expected; missing {len(missing)},"
        f" outside the set {len(extra)}, not exactly once {len(repeated)}",
    )

    # (b) mapped join tasks ran in parallel, within the pool
    rows = pg.query(
        "SELECT map_index, state, pool, extract(epoch FROM start_date), extract(epoch FROM end_date)"
        f" FROM task_instance WHERE dag_id = '{DAG_ID}' AND run_id = '{run_id}' AND task_id = '{JOIN_TASK}'"
    )
    intervals = [(float(r[3]), float(r[4])) for r in rows if r[3] and r[4]]
    pools = sorted({r[2] for r in rows})
    states = sorted({r[1] for r in rows})
    peak = max_overlap(intervals)
    # One mapped instance per batch that select_new_channels planned (how it batches is the DAG's business).
    planned = xcom(pg, run_id, "select_new_channels", "return_value")
    expected_tasks = len(planned) if isinstance(planned, list) else -1
    checks.add(
        "mapped join_channels in the pool",
        len(rows) == expected_tasks and pools == [POOL] and states == ["success"],
        f"{len(rows)} mapped instances for {expected_tasks} planned batches, pools {pools}, states {states}",
    )
    checks.add(
        "parallel within the pool's slots",
        (peak > 1 or expected_tasks < 2) and peak <= args.pool_slots,
        f"at most {peak} ran at once (pool slots {args.pool_slots}, max_active_tis_per_dagrun 4)",
    )

    # (c) the token is nowhere in the logs or the metadata database's task outputs
    task_logs = [p for p in (home / "logs").rglob("*") if p.is_file()]
    join_logs = [p for p in task_logs if f"task_id={JOIN_TASK}" in str(p)]
    leaks = [
        str(p)
        for p in [*task_logs, *logs.glob("*.log")]
        if p.name != "sandbox.log" and token.encode() in p.read_bytes()
    ]
    db_leaks = []
    for table, column in (
        ("xcom", "value"),
        ("rendered_task_instance_fields", "rendered_fields"),
        ("dag_run", "conf"),
        ("log", "extra"),
    ):
        found = pg.query(f"SELECT count(*) FROM {table} WHERE {column}::text LIKE '%{token}%'")
        if int(found[0][0]):
            db_leaks.append(f"{table}.{column}")
    checks.add(
        "token in no log",
        not leaks and not db_leaks and len(join_logs) >= max(1, expected_tasks),
        f"scanned {len(task_logs)} files under AIRFLOW_HOME/logs ({len(join_logs)} join_channels task logs)"
        f" and {len(list(logs.glob('*.log'))) - 1} service logs; leaks: {leaks + db_leaks or 'none'}",
    )

    summary = xcom(pg, run_id, "report", "report")
    if isinstance(summary, dict):
        say(
            f"report task: joined {summary.get('joined')}, skipped {summary.get('skipped')}, "
            f"failed {summary.get('failed')}"
        )

    if not checks.ok:
        # The first task logs with an error in them, then the scheduler's view.
        shown = 0
        for path in sorted(task_logs):
            if shown < 3 and '"level":"error"' in path.read_text(errors="replace").replace(" ", ""):
                say(f"{path.relative_to(home / 'logs')} (tail):\n" + tail(path, 30))
                shown += 1
        say("scheduler log (tail):\n" + tail(logs / "scheduler.log", 30))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--channels", type=int, default=400, help="channels in the sandbox workspace")
    parser.add_argument("--seed", type=int, default=7, help="seed for the sandbox's channels")
    parser.add_argument(
        "--new-channels", type=int, default=48, help="joinable channels created after the cutoff (0: all)"
    )
    parser.add_argument("--pool-slots", type=int, default=3, help="slots of the truto pool")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for the DAG run")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, cluster)")
    args = parser.parse_args(argv)

    def interrupted(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, interrupted)
    # Everything here is on loopback: keep a CI's HTTP proxy out of it (this process and the services).
    for name in ("no_proxy", "NO_PROXY"):
        os.environ[name] = ",".join(filter(None, [os.environ.get(name), "127.0.0.1", "localhost"]))
    work = Path(tempfile.mkdtemp(prefix="truto-production-run-"))
    work.chmod(0o755)  # the postgres user must reach its cluster inside
    checks = Checks()
    cleanup: list[Any] = []
    code = 1
    try:
        production_run(args, work, checks, cleanup)
        code = 0 if checks.ok else 1
    except SetupError as error:
        say(f"SET-UP FAILED: {error}")
        for log in sorted((work / "service-logs").glob("*.log")):
            say(f"{log.name} (tail):\n{tail(log, 25)}")
        code = 2
    finally:
        say("stopping services, sandbox and PostgreSQL")
        for stop in reversed(cleanup):
            try:
                stop()
            except Exception as error:  # keep stopping the rest
                say(f"cleanup step failed: {error!r}")
        if args.keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(
        "Production-shaped run: Airflow LocalExecutor on PostgreSQL, scheduler + dag-processor + triggerer"
        " + api-server"
    )
    for name, ok, detail in checks.results:
        print(f"  {'PASS' if ok else 'FAIL'}  {name}: {detail}")
    verdict = "passed" if code == 0 else ("set-up failed" if code == 2 else "FAILED")
    print(f"  {verdict} in {time.monotonic() - STARTED:.0f}s")
    # A closing line CI can count (a failed set-up counts as one failed check).
    passed = sum(1 for _, ok, _ in checks.results if ok)
    failed = len(checks.results) - passed + (1 if code == 2 else 0)
    print(f"production: {passed} passed, {failed} failed")
    return code


if __name__ == "__main__":
    sys.exit(main())
