"""An Airflow home of its own for Airflow's CLI run in a subprocess: tests, benchmarks, the demo.

Whoever runs ``airflow dags test``, ``airflow api-server`` or a scheduler against a throwaway home needs
the same few things: the caller's own Airflow settings and connections left out (any ``AIRFLOW_*``
variable: they would point the run at another database, executor or Truto), ``AIRFLOW_HOME`` set, no
example DAGs, a DAG folder, the rate-limit lock files inside the home, and a migrated metadata database
(SQLite, unless a setting names another). :func:`airflow_env` makes the environment and
:func:`new_airflow_home` a migrated home; ``tests/`` (the system tests' stack builds on it too),
``benchmarks/`` and ``scripts/demo.py`` all use them. Development tooling: not in the wheel.

Stdlib only; nothing here imports Airflow.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

__all__ = ["AIRFLOW", "airflow_env", "migrate", "new_airflow_home"]

# The ``airflow`` command of the interpreter running this. Not sys.executable resolved: a venv's python
# is a symlink, and the venv is what we want.
AIRFLOW = Path(sys.executable).with_name("airflow")


def airflow_env(
    home: Path,
    *,
    dags_folder: Path,
    **settings: str,
) -> dict[str, str]:
    """This process's environment less every ``AIRFLOW_*`` variable, for an ``airflow`` subprocess on
    ``home``.

    :param home: the ``AIRFLOW_HOME``.
    :param dags_folder: ``[core] dags_folder``.
    :param settings: more variables, set last: ``AIRFLOW__SECTION__KEY`` settings, ``AIRFLOW_CONN_*``
        connections, ``TRUTO_*``.
    """
    env = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW_")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "TRUTO_RATE_LIMIT_DIR": str(home / "rate-limits"),
            **settings,
        }
    )
    return env


def migrate(env: Mapping[str, str], *, timeout: float = 300) -> None:
    """``airflow db migrate`` in ``env``'s home; a failure raises with Airflow's output."""
    done = subprocess.run(
        [str(AIRFLOW), "db", "migrate"], env=dict(env), capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"airflow db migrate exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )


def new_airflow_home(
    *,
    dags_folder: Path,
    directory: Path | None = None,
    prefix: str = "truto-airflow-",
    **settings: str,
) -> tuple[Path, dict[str, str]]:
    """A migrated Airflow home and the environment pointing at it.

    :param directory: where (created if missing; an existing home is migrated again, which keeps its
        data); default: a new temporary directory named ``prefix...``, left for the caller to remove.
    :param settings: as for :func:`airflow_env`.
    """
    home = directory if directory is not None else Path(tempfile.mkdtemp(prefix=prefix))
    home.mkdir(parents=True, exist_ok=True)
    env = airflow_env(home, dags_folder=dags_folder, **settings)
    migrate(env)
    return home, env
