"""Imports that moved between Airflow 3 releases, resolved once."""

from __future__ import annotations

try:  # Airflow >= 3.1: the Task SDK is the public authoring interface.
    from airflow.sdk import BaseHook
except ImportError:  # pragma: no cover - Airflow 3.0
    from airflow.hooks.base import BaseHook  # type: ignore[no-redef,attr-defined]

try:  # Airflow >= 3.2 keeps the task-facing exceptions in the Task SDK.
    from airflow.sdk.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowSkipException,
        TaskDeferred,
    )
except ImportError:  # pragma: no cover - Airflow 3.0
    from airflow.exceptions import (  # type: ignore[no-redef,attr-defined]
        AirflowException,
        AirflowFailException,
        AirflowSkipException,
        TaskDeferred,
    )

__all__ = ["AirflowException", "AirflowFailException", "AirflowSkipException", "BaseHook", "TaskDeferred"]
