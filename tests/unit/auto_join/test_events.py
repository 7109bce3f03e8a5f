"""A watch's asset events read back, and its settings read from the environment
(airflow_provider_truto/auto_join/events.py). The same with the trigger's real events, in the DAG that
uses them: tests/integration/test_event_and_sensor_dags.py."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from airflow_provider_truto.auto_join.events import channels_from_events, flag_from_env, patterns_from_env
from airflow_provider_truto.exceptions import TrutoAuthError, TrutoInputError


def event(*channels: tuple[str, str], status: str = "success") -> SimpleNamespace:
    listed = [{"id": cid, "name": cid, "integrated_account_id": account} for account, cid in channels]
    return SimpleNamespace(extra={"from_trigger": True, "payload": {"status": status, "channels": listed}})


def test_channels_come_once_each_in_event_order() -> None:
    events = [
        event(("A", "C1"), ("A", "C2")),
        event(("A", "C2"), ("B", "C2")),  # a repeat, and the same id in another account
        SimpleNamespace(extra={"note": "recorded by someone else"}),
        SimpleNamespace(extra=None),
    ]
    assert [(c["integrated_account_id"], c["id"]) for c in channels_from_events(events)] == [
        ("A", "C1"),
        ("A", "C2"),
        ("B", "C2"),
    ]


def test_an_error_event_fails_the_run_with_the_typed_error() -> None:
    error = {
        "status": "error",
        "message": "Invalid API token",
        "error_type": "TrutoAuthError",
        "status_code": 401,
    }
    with pytest.raises(TrutoAuthError, match="Invalid API token"):
        channels_from_events([event(("A", "C1")), SimpleNamespace(extra={"payload": error})])


def test_patterns_and_flags_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLOBS", " eng-*, ops-* ,,")
    monkeypatch.setenv("FLAG", " True ")
    assert patterns_from_env("GLOBS") == ["eng-*", "ops-*"] and patterns_from_env("UNSET_GLOBS") == []
    assert flag_from_env("FLAG") is True and flag_from_env("UNSET_FLAG") is False
    monkeypatch.setenv("FLAG", "maybe")
    with pytest.raises(TrutoInputError) as caught:
        flag_from_env("FLAG")
    assert caught.value.argument == "FLAG"
