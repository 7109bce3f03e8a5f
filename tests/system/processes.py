"""Background processes for the system tests: started in their own session, stopped with every descendant.

Airflow's task runners put themselves in their own process group (``setpgid``), so ending a service's
process group is not enough: the whole tree is collected with psutil and ended too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import psutil


class ServiceProcess:
    """One long-running command, its output appended to ``log``; stop() and kill() end its whole tree."""

    def __init__(self, name: str, command: Sequence[str], *, log: Path, env: Mapping[str, str]) -> None:
        self.name = name
        self.command = list(command)
        self.log = log
        with log.open("ab") as out:
            out.write(f"\n===== {name} started at {time.strftime('%H:%M:%S')} =====\n".encode())
            out.flush()
            self.process = subprocess.Popen(
                self.command,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(env),
                cwd=log.parent,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def tree(self) -> list[psutil.Process]:
        """This process and its descendants (empty once it has gone)."""
        try:
            root = psutil.Process(self.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def kill(self) -> list[int]:
        """SIGKILL the process and every descendant at once, as a lost machine would; returns their pids."""
        tree = self.tree()
        for process in tree:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGKILL)
        psutil.wait_procs(tree, timeout=10)
        self.process.poll()
        return [process.pid for process in tree]

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the process group, wait up to ``timeout`` seconds, then SIGKILL what is left."""
        stop_all([self], timeout)


def stop_all(services: Iterable[ServiceProcess], timeout: float = 20.0) -> None:
    """Stop several services at once: SIGTERM every process group, then wait for all of them together
    (their shutdowns overlap), then SIGKILL what is left after ``timeout`` seconds."""
    services = list(services)
    trees = [process for service in services for process in service.tree()]
    for service in services:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(service.pid, signal.SIGTERM)
    _, alive = psutil.wait_procs(trees, timeout=timeout)
    kill_all(alive)
    for service in services:
        service.process.poll()


def kill_all(processes: Iterable[psutil.Process]) -> None:
    remaining = list(processes)
    for process in remaining:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.send_signal(signal.SIGKILL)
    psutil.wait_procs(remaining, timeout=10)


def title(process: psutil.Process) -> str:
    """The process's command line as ``ps`` shows it (Airflow rewrites it with setproctitle)."""
    try:
        return " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return ""
