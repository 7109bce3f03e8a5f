"""A watch's asset events read back, and its settings read from the environment
(airflow_provider_truto/auto_join/events.py). The same with the trigger's real events, in the DAG that
uses them: tests/integration/test_event_and_sensor_dags.py."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from airflow_provider_truto.auto_join.events import (
    WatchEvents,
    accounts_from_env,
    batches_by_account,
    flag_from_env,
    patterns_from_env,
    read_events,
)
from airflow_provider_truto.exceptions import (
    TrutoAccountBlockedError,
    TrutoAuthError,
    TrutoError,
    TrutoInputError,
)


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
    read = read_events(events)
    assert [(c["integrated_account_id"], c["id"]) for c in read.channels] == [
        ("A", "C1"),
        ("A", "C2"),
        ("B", "C2"),
    ]
    assert read.problems == []
    read.raise_problems()  # nothing to raise


AUTH = {"status": "error", "message": "Invalid API token", "error_type": "TrutoAuthError", "status_code": 401}
BLOCKED = {
    "status": "error",
    "integrated_account_id": "B",
    "message": "The integrated account is blocked",
    "error_type": "TrutoAccountBlockedError",
    "status_code": 503,
    "set_aside_until": "2026-05-01T10:10:00Z",
}


def test_an_error_event_is_a_problem_that_leaves_the_other_channels_to_join() -> None:
    read = read_events([event(("A", "C1")), SimpleNamespace(extra={"payload": BLOCKED}), event(("C", "C3"))])
    assert [c["id"] for c in read.channels] == ["C1", "C3"] and read.problems == [BLOCKED]
    with pytest.raises(TrutoAccountBlockedError, match="blocked"):  # one problem: its own typed error
        read.raise_problems()
    with pytest.raises(TrutoAuthError, match="Invalid API token"):
        WatchEvents(problems=[AUTH]).raise_problems()


def test_several_problems_are_named_together() -> None:
    problems = [BLOCKED, {**BLOCKED, "integrated_account_id": "D", "message": "gone"}, AUTH]
    with pytest.raises(
        TrutoError,
        match="3 problems reported by the watch: B: The integrated account is blocked; D: gone; "
        "the watch: Invalid API token",
    ):
        WatchEvents(problems=problems).raise_problems()


def refs(account: str, count: int) -> list[dict[str, str]]:
    return [
        {"id": f"{account}{n}", "name": f"{account}-{n}", "integrated_account_id": account}
        for n in range(count)
    ]


def test_each_workspaces_channels_go_in_one_batch_several_workspaces_to_a_batch() -> None:
    channels = [*refs("A", 3), *refs("B", 40), *refs("C", 1), *refs("D", 2)]
    batches = batches_by_account(channels, accounts_per_batch=2)
    accounts = [[c["integrated_account_id"] for c in batch] for batch in batches]
    assert len(batches) == 2 and sorted(len(set(a)) for a in accounts) == [2, 2]
    for account in "ABCD":  # never split
        assert sum(1 for batch in accounts if account in batch) == 1
    assert sorted(c["id"] for batch in batches for c in batch) == sorted(c["id"] for c in channels)
    # The big workspace alone would be one task's work: the others share the other task.
    # B (40) takes one batch; A and D fill the other; C goes where there is a place left.
    assert [len(batch) for batch in batches] == [41, 5]
    assert batches_by_account([]) == []
    assert len(batches_by_account([*refs("A", 1), *refs("B", 1)])) == 1  # 16 workspaces to a batch
    with pytest.raises(TrutoInputError, match="accounts_per_batch"):
        batches_by_account(channels, accounts_per_batch=0)


def test_accounts_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert accounts_from_env("UNSET_ACCOUNTS") == "all"
    monkeypatch.setenv("ACCOUNTS", " ALL ")
    assert accounts_from_env("ACCOUNTS") == "all"
    monkeypatch.setenv("ACCOUNTS", " a, b ,,c")
    assert accounts_from_env("ACCOUNTS") == ["a", "b", "c"]


def test_patterns_and_flags_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLOBS", " eng-*, ops-* ,,")
    monkeypatch.setenv("FLAG", " True ")
    assert patterns_from_env("GLOBS") == ["eng-*", "ops-*"] and patterns_from_env("UNSET_GLOBS") == []
    assert flag_from_env("FLAG") is True and flag_from_env("UNSET_FLAG") is False
    monkeypatch.setenv("FLAG", "maybe")
    with pytest.raises(TrutoInputError) as caught:
        flag_from_env("FLAG")
    assert caught.value.argument == "FLAG"
