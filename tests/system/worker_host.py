"""Airflow's ``[core] hostname_callable`` for the system tests' Celery workers.

Two workers on one machine share its hostname; each is given its own (``TRUTO_SYSTEM_WORKER_HOST``), as
two Celery hosts would have, so a task instance's ``hostname`` tells which worker ran it.
"""

from __future__ import annotations

import os
import socket

HOST_ENV = "TRUTO_SYSTEM_WORKER_HOST"


def hostname() -> str:
    return os.environ.get(HOST_ENV) or socket.getfqdn()
