"""What the Airflow layer (hooks, operators, sensors) imports from Airflow where it moved between Airflow 3
releases, resolved once. The client and the pacing never import it; the error tree resolves its own two
base classes (:mod:`airflow_provider_truto.exceptions`)."""

from __future__ import annotations

try:  # Airflow >= 3.1: the Task SDK is the public authoring interface.
    from airflow.sdk import BaseHook
except ImportError:  # pragma: no cover - Airflow 3.0
    from airflow.hooks.base import BaseHook  # type: ignore[no-redef,attr-defined]

try:  # Airflow >= 3.2 keeps the task-facing exceptions in the Task SDK.
    from airflow.sdk.exceptions import AirflowSkipException
except ImportError:  # pragma: no cover - Airflow 3.0, 3.1
    from airflow.exceptions import AirflowSkipException  # type: ignore[no-redef]


def default_deferrable() -> bool:
    """Airflow's ``[operators] default_deferrable`` (False when unset), read when an operator is made.

    Imported on call, not with this module: the configuration moved into the Task SDK in Airflow 3.2.
    """
    try:  # Airflow >= 3.2
        from airflow.sdk.configuration import conf
    except ImportError:  # pragma: no cover - Airflow 3.0, 3.1
        from airflow.configuration import conf
    return bool(conf.getboolean("operators", "default_deferrable", fallback=False))


__all__ = ["AirflowSkipException", "BaseHook", "default_deferrable"]
