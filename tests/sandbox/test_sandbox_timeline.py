"""The sandbox's world changing on a schedule: channels created and workspaces connected at chosen moments,
from Python (``play``) and from the CLI (``--plan``), and the CLI's Slack options and request log."""

from __future__ import annotations

import json
import signal
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_truto.testing import TrutoSandbox
from airflow_provider_truto.testing.timeline import NewAccount, NewChannel, Timeline, load_plan
from tests.support.helpers import ACCOUNT, Api, spawn_sandbox_cli, stop_process

CHANNELS = "/unified/instant-messaging/channels"


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_planned_steps_happen_at_their_moment_while_serving(sb: TrutoSandbox, api: Api) -> None:
    started = datetime.now(timezone.utc)
    timeline = sb.play(
        [
            NewChannel(at=0.8, account_id="late", id="CLATE00001", name="late-news"),
            NewAccount(at=0.5, account_id="late", channels=40, seed=3),
            NewChannel(at=0.3, account_id=ACCOUNT, name="early"),
        ]
    )
    assert api.channels().json()["result_count"] == 0  # nothing yet: the first step is 0.3 s away
    assert timeline.wait(timeout=10)

    happened = timeline.happened
    assert [type(h.step).__name__ for h in happened] == ["NewChannel", "NewAccount", "NewChannel"]
    assert all(h.error is None for h in happened) and timeline.pending == 0
    offsets = [(h.when - started).total_seconds() for h in happened]
    assert offsets == sorted(offsets) and offsets[0] >= 0.3 and 0.8 <= offsets[2] < 3
    [early] = api.channels().json()["result"]
    assert early["name"] == "early" and early["type"] == "channel" and early["is_member"] is False
    late = api.channels(account="late", limit=100).json()["result"]
    assert len(late) == 41 and late[-1]["id"] == "CLATE00001"
    # Stamped with the moment it was really created; the seeded channels are older than the workspace.
    assert abs((parse(late[-1]["created_at"]) - happened[2].when).total_seconds()) < 0.05
    assert max(parse(c["created_at"]) for c in late[:-1]) <= happened[1].when
    listed = api.get("/integrated-account", account=None).json()["result"]
    assert [a["id"] for a in listed] == [ACCOUNT, "late"]
    assert abs((parse(listed[1]["created_at"]) - happened[1].when).total_seconds()) < 0.05


def test_a_step_that_fails_is_recorded_and_the_plan_goes_on(sb: TrutoSandbox) -> None:
    timeline = sb.play(
        [
            NewChannel(at=0, account_id="nobody", name="lost"),
            NewChannel(at=0.05, account_id=ACCOUNT, name="ok"),
        ]
    )
    assert timeline.wait(timeout=5)
    first, second = timeline.happened
    assert first.error is not None and "nobody" in first.error and second.error is None
    assert [c["name"] for c in sb.channels(ACCOUNT)] == ["ok"]
    state = requests.get(sb.url + "/_sandbox/state", timeout=5).json()
    assert state["timelines"] == {"happened": 2, "pending": 0, "errors": [first.error]}


def test_stopping_the_sandbox_skips_what_is_still_planned() -> None:
    sandbox = TrutoSandbox().start()
    sandbox.add_account(ACCOUNT)
    timeline = sandbox.play([NewChannel(at=0, account_id=ACCOUNT), NewChannel(at=60, account_id=ACCOUNT)])
    deadline = time.monotonic() + 5
    while not timeline.happened and time.monotonic() < deadline:
        time.sleep(0.01)
    sandbox.stop()
    assert timeline.wait(timeout=5)
    assert len(timeline.happened) == 1 and timeline.pending == 1


@pytest.mark.parametrize("at", [-1, float("inf"), float("nan"), "5", True])
def test_a_step_at_no_honest_moment_is_refused_before_anything_runs(at: Any) -> None:
    with pytest.raises(ValueError, match="'at'"):
        Timeline(lambda step: None, [NewChannel(at=at, account_id=ACCOUNT)])


def test_load_plan_reads_json_and_names_the_wrong_entry() -> None:
    plan = load_plan(
        {
            "accounts": [{"at": 60, "id": "late", "channels": 2000, "seed": 7}],
            "channels": [{"at": 1.5, "account": "late", "id": "C1", "name": "n"}],
        }
    )
    assert plan == [
        NewAccount(at=60.0, account_id="late", channels=2000, seed=7),
        NewChannel(at=1.5, account_id="late", id="C1", name="n"),
    ]
    assert load_plan({}) == []
    for bad, named in [
        ({"channels": [{"at": 1}]}, "channels[0].account"),
        ({"accounts": [{"at": 1, "id": "x", "channels": -2}]}, "accounts[0].channels"),
        ({"channels": [{"account": "x"}]}, "channels[0].at"),
        ({"events": []}, "accounts"),
        ([], "accounts"),
    ]:
        with pytest.raises(ValueError, match=named.replace("[", r"\[").replace("]", r"\]")):
            load_plan(bad)


def test_the_request_log_file_has_a_line_per_request_and_no_token(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    before = time.time()
    with TrutoSandbox("tok-0123456789abcdef", request_log=str(log), slack_list_rate_limit=(1, 60.0)) as sb:
        sb.add_account(ACCOUNT)
        headers = {"Authorization": "Bearer tok-0123456789abcdef"}
        for _ in range(2):
            requests.get(sb.url + CHANNELS, params={"integrated_account_id": ACCOUNT}, headers=headers)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(line["path"], line["account"], line["status"], line["remote_error"]) for line in lines] == [
        (CHANNELS, ACCOUNT, 200, False),
        (CHANNELS, ACCOUNT, 429, True),
    ]
    assert before <= lines[0]["at"] <= lines[1]["at"] <= time.time()
    assert "tok-0123456789abcdef" not in log.read_text()


# -- the command line --------------------------------------------------------------------------------------


def test_the_cli_plays_a_plan_with_slacks_tier_and_page_size(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(
        json.dumps(
            {
                "accounts": [{"at": 0.2, "id": "late", "channels": 12}],
                "channels": [{"at": 0.4, "account": "late", "id": "CPLANNED01", "name": "planned"}],
            }
        )
    )
    log = tmp_path / "requests.jsonl"
    proc = spawn_sandbox_cli(
        "--account", "first", "--channels", "3", "--slack-list-limit", "--max-page-size", "5",
        "--plan", str(plan), "--request-log", str(log),
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip().split("=", 1)[1]
        proc.stdout.readline()
        assert proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 10
        while requests.get(url + "/_sandbox/state", timeout=5).json()["timelines"]["pending"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with requests.Session() as session:
            session.headers["Authorization"] = "Bearer sandbox-token"
            answers = [
                session.get(
                    url + CHANNELS, params={"integrated_account_id": "late", "limit": 1000}, timeout=5
                )
                for _ in range(21)
            ]
    finally:
        assert stop_process(proc, signal.SIGTERM) == 0
    assert [a.status_code for a in answers] == [200] * 20 + [429]  # Slack's Tier 2: 20 a minute
    assert answers[0].json()["result_count"] == 5  # --max-page-size, whatever limit asked
    assert len(log.read_text().splitlines()) == 21


def test_the_cli_names_a_bad_plan(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"channels": [{"at": -1, "account": "a"}]}))
    for args in (["--plan", str(plan)], ["--plan", str(tmp_path / "missing.json")], ["--max-page-size", "0"]):
        proc = spawn_sandbox_cli(*args)
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == 2 and args[0] in err
