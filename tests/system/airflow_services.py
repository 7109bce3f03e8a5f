"""Airflow's services as separate processes on one metadata database: start, stop, kill or restart each.

``AirflowServices(root, database_url=..., executor="LocalExecutor", extra_env={...})`` builds an AIRFLOW_HOME
under ``root``; ``migrate()`` then ``start()`` brings up the scheduler, dag-processor, triggerer and
api-server (more with ``services=``, e.g. a Celery worker), each logging to ``root/logs/<name>.log``.
``kill(name)`` SIGKILLs one service with every process under it, ``start(name)`` brings it back.
``service_env`` gives one service more environment of its own (a Celery worker's temp directory, say).
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import requests

from tests.support.airflow_home import AIRFLOW as AIRFLOW_COMMAND
from tests.support.airflow_home import airflow_env
from tests.system.processes import ServiceProcess, stop_all, title

REPO = Path(__file__).resolve().parents[2]
AIRFLOW = str(AIRFLOW_COMMAND)
# The title Airflow's task runner gives itself (setproctitle), with the task instance's id.
TASK_RUNNER_TITLE = re.compile(r"airflow worker -- ([0-9a-f]{8}-[0-9a-f-]{27})")
T = TypeVar("T")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, check: Callable[[], T], *, timeout: float, interval: float = 1.0) -> T:
    """Poll ``check`` until it returns something true; raise after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


class AirflowServices:
    """An AIRFLOW_HOME and its services, each one a named process that can be stopped, killed, restarted.

    :param root: a directory to build the home, the logs and the rate-limit files in.
    :param database_url: the metadata database (SQLAlchemy URL).
    :param executor: Airflow's ``[core] executor``.
    :param extra_env: more environment for every service (Airflow settings, connections, ...).
    :param services: more services (or other commands for the core four), each with its ``airflow``
        sub-command, e.g. ``{"worker-a": ["celery", "worker"]}``.
    :param service_env: service name -> environment for that service alone, on top of the rest.
    """

    def __init__(
        self,
        root: Path,
        *,
        database_url: str,
        executor: str = "LocalExecutor",
        extra_env: Mapping[str, str] | None = None,
        services: Mapping[str, Sequence[str]] | None = None,
        service_env: Mapping[str, Mapping[str, str]] | None = None,
        dags_folder: Path = REPO / "example_dags",
    ) -> None:
        self.root = root
        self.home = root / "airflow"
        self.logs = root / "logs"
        self.home.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        self.api_port = free_port()
        self.base_url = f"http://127.0.0.1:{self.api_port}"
        self.commands: dict[str, list[str]] = {
            "scheduler": ["scheduler"],
            "dag-processor": ["dag-processor"],
            "triggerer": ["triggerer"],
            "api-server": ["api-server", "--host", "127.0.0.1", "--port", str(self.api_port)],
        }
        self.commands.update({name: list(command) for name, command in (services or {}).items()})
        self.env = self._environment(database_url, executor, dags_folder, extra_env or {})
        self.service_env = {name: dict(env) for name, env in (service_env or {}).items()}
        self.running: dict[str, ServiceProcess] = {}
        self.api = AirflowApi(self.base_url)

    def _environment(
        self, database_url: str, executor: str, dags_folder: Path, extra: Mapping[str, str]
    ) -> dict[str, str]:
        env = airflow_env(self.home, dags_folder=dags_folder)
        env["PATH"] = f"{Path(AIRFLOW).parent}{os.pathsep}{env.get('PATH', '')}"
        # Everything is on loopback: keep a CI's HTTP proxy out of it.
        env["no_proxy"] = env["NO_PROXY"] = "127.0.0.1,localhost"
        env.update(
            {
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url,
                "AIRFLOW__CORE__EXECUTOR": executor,
                "AIRFLOW__CORE__PARALLELISM": "8",
                "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
                # Tests drive the API without logging in; the api-server listens on loopback only.
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.api_port),
                "AIRFLOW__API__BASE_URL": self.base_url,
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(48),
                # Airflow 3.0 signs an empty issuer list, which PyJWT >= 2.10 refuses: name one.
                "AIRFLOW__API_AUTH__JWT_ISSUER": "airflow-provider-truto-system-tests",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
                # A killed service is noticed in seconds rather than minutes (defaults: 30 s to 300 s).
                "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "15",
                "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "10",
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
                "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
                "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
                "TRUTO_RATE_LIMIT_DIR": str(self.root / "rate-limits"),
                **extra,
            }
        )
        return env

    # -- lifecycle ----------------------------------------------------------------------------------------

    def airflow(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run one ``airflow`` CLI command to completion; a failure raises with its output."""
        result = subprocess.run(
            [AIRFLOW, *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"airflow {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result

    def migrate(self) -> None:
        self.airflow("db", "migrate")

    def start(self, name: str | None = None) -> None:
        """Start one service, or every service not running yet."""
        for service in [name] if name else list(self.commands):
            if service in self.running and self.running[service].alive():
                raise RuntimeError(f"{service} is already running")
            env = {**self.env, **self.service_env.get(service, {})}
            self.running[service] = ServiceProcess(
                service, [AIRFLOW, *self.commands[service]], log=self.log(service), env=env
            )

    def stop(self, name: str | None = None) -> None:
        """Stop one service, or all of them: the others at once, then the api-server (they talk to it)."""
        if name is not None:
            process = self.running.pop(name, None)
            if process is not None:
                process.stop()
            return
        stop_all([self.running.pop(n) for n in list(self.running) if n != "api-server"])
        self.stop("api-server")

    def kill(self, name: str) -> list[int]:
        """SIGKILL a service and everything it started (for the scheduler: the running tasks too)."""
        return self.running.pop(name).kill()

    def restart(self, name: str) -> None:
        self.stop(name)
        self.start(name)

    def alive(self, name: str) -> bool:
        return name in self.running and self.running[name].alive()

    def check_alive(self) -> None:
        """Raise if a started service has exited on its own."""
        for name, process in self.running.items():
            if not process.alive():
                raise RuntimeError(f"{name} exited {process.process.returncode}; see {process.log}")

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    # -- what runs where ----------------------------------------------------------------------------------

    def task_runner_pids(self, ti_ids: Iterable[str]) -> list[int]:
        """The processes running these task instances (``airflow worker -- <ti id>``), in any service."""
        wanted = {str(ti_id) for ti_id in ti_ids}
        found = []
        for process in self.processes():
            runner = TASK_RUNNER_TITLE.search(title(process))
            if runner and runner.group(1) in wanted:
                found.append(process.pid)
        return found

    def processes(self) -> list[Any]:
        """Every process of every running service (psutil processes)."""
        return [process for service in self.running.values() for process in service.tree()]

    def log_tails(self, lines: int = 30) -> str:
        parts = []
        for path in sorted(self.logs.glob("*.log")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"----- {path.name} (last {len(text)} lines) -----\n" + "\n".join(text))
        return "\n".join(parts)

    def task_logs(self, dag_id: str, run_id: str) -> list[Path]:
        return sorted((self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}").rglob("*.log"))


class AirflowApi:
    """The api-server's REST API (v2) with a token from the all-admins simple auth manager."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.session.trust_env = False  # loopback: no proxy

    def healthy(self) -> bool:
        try:
            return self.session.get(f"{self.base_url}/api/v2/monitor/health", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def login(self) -> None:
        answer = self.session.get(f"{self.base_url}/auth/token", timeout=30)
        answer.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"

    def call(self, method: str, path: str, body: Any = None) -> Any:
        answer = self.session.request(method, f"{self.base_url}/api/v2{path}", json=body, timeout=60)
        if answer.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {answer.status_code} {answer.text[:2000]}")
        return answer.json() if answer.content else None

    def set_pool(self, name: str, slots: int, description: str = "") -> None:
        body = {"name": name, "slots": slots, "description": description, "include_deferred": False}
        self.call("POST", "/pools", body)

    def set_pool_slots(self, name: str, slots: int) -> None:
        self.call("PATCH", f"/pools/{name}?update_mask=slots", {"name": name, "slots": slots})

    def set_connection(self, connection: Mapping[str, Any]) -> None:
        """Create a connection (``connection_id``, ``conn_type``, ``host``, ``password``, ``extra`` as a
        JSON string, ...), or replace the one of that id."""
        conn_id = connection["connection_id"]
        answer = self.session.get(f"{self.base_url}/api/v2/connections/{conn_id}", timeout=60)
        if answer.status_code == 404:
            self.call("POST", "/connections", dict(connection))
        else:
            self.call("PATCH", f"/connections/{conn_id}", dict(connection))

    def unpause(self, dag_id: str) -> None:
        self.call("PATCH", f"/dags/{dag_id}", {"is_paused": False})

    def trigger(self, dag_id: str, run_id: str, conf: Mapping[str, Any]) -> None:
        self.call(
            "POST", f"/dags/{dag_id}/dagRuns", {"dag_run_id": run_id, "logical_date": None, "conf": conf}
        )

    def fail_run(self, dag_id: str, run_id: str) -> None:
        self.call("PATCH", f"/dags/{dag_id}/dagRuns/{run_id}", {"state": "failed"})
