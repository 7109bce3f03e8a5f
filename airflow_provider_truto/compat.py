"""What the Airflow layer (hooks, operators, sensors) imports from Airflow where it moved between Airflow 3
releases, resolved once. The client and the pacing never import it; the error tree resolves its own two
base classes (:mod:`airflow_provider_truto.exceptions`)."""

from __future__ import annotations

from typing import Any

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


def airflow_stats() -> Any:
    """Airflow's metrics API (``incr``, ``timing``, ...), configured from ``[metrics]``.

    Airflow 3.0 and 3.1 have the ``Stats`` class, which configures itself on first use. From 3.2 the
    Task SDK has a ``stats`` module that each Airflow process sets up when it starts; a process that has not
    (a triggerer, on some releases) gets it set up here, from the same settings.
    """
    try:  # Airflow >= 3.2
        from airflow.sdk.observability import stats
    except ImportError:  # pragma: no cover - Airflow 3.0, 3.1
        from airflow.stats import Stats

        return Stats
    _set_up_sdk_stats(stats)
    return stats


def _set_up_sdk_stats(stats: Any) -> None:
    """Initialise the Task SDK's metrics from ``[metrics]`` unless this process already has."""
    import sys

    state = sys.modules.get("airflow.sdk._shared.observability.metrics.stats")
    if state is None or getattr(state, "_factory", True) is not None:
        return  # set up by Airflow (or a release that keeps its state elsewhere: leave it alone)
    from airflow.sdk.configuration import conf
    from airflow.sdk.observability.metrics.stats_utils import get_stats_factory

    stats.initialize(
        factory=get_stats_factory(),
        export_legacy_names=conf.getboolean("metrics", "legacy_names_on", fallback=False),
    )


__all__ = ["AirflowSkipException", "BaseHook", "airflow_stats", "default_deferrable"]
