"""The sandbox's Slack sharing flags in ``remote_data``: seeded shares, one channel's sharing, CLI flags."""

from __future__ import annotations

import signal
from collections import Counter
from datetime import datetime, timezone
from typing import Any

import pytest
import requests

from airflow_provider_truto.auto_join.policy import external_sharing
from airflow_provider_truto.testing import TrutoSandbox
from tests.support.helpers import ACCOUNT, Api, spawn_sandbox_cli, stop_process

FLAGS = ("is_shared", "is_org_shared", "is_ext_shared", "is_pending_ext_shared")


def flags(channel: dict[str, Any]) -> tuple[bool, ...]:
    return tuple(channel["remote_data"][flag] for flag in FLAGS)


@pytest.mark.parametrize(
    ("sharing", "expected"),
    [
        ("none", (False, False, False, False)),
        ("org", (True, True, False, False)),
        ("external", (True, False, True, False)),
        ("pending", (False, False, False, True)),
    ],
)
def test_one_channels_sharing_is_slacks_flags_on_the_wire(
    sb: TrutoSandbox, api: Api, sharing: str, expected: tuple[bool, ...]
) -> None:
    added = sb.add_channel(ACCOUNT, name="c", sharing=sharing)
    [listed] = api.all_channels()
    assert flags(listed) == expected == flags(added)
    assert "sharing" not in listed  # Truto's unified object does not say it: only Slack's does
    assert external_sharing(listed) is (sharing in ("external", "pending"))


def without_flags(channel: dict[str, Any]) -> dict[str, Any]:
    remote = {k: v for k, v in channel["remote_data"].items() if k not in FLAGS}
    return {**channel, "remote_data": remote}


def test_seeded_shares_and_the_same_channels_with_or_without_sharing() -> None:
    with_sharing, without = TrutoSandbox(), TrutoSandbox()  # never started: seeding is state only
    for sandbox in (with_sharing, without):
        sandbox.add_account(ACCOUNT)
    # One fixed window for both: the default ends at "now", which moves between the two calls.
    window = {
        "start": datetime(2025, 1, 1, tzinfo=timezone.utc),
        "end": datetime(2026, 1, 1, tzinfo=timezone.utc),
    }
    shared = with_sharing.seed_channels(ACCOUNT, 2000, seed=5, shared=0.2, org_shared=0.1, **window)
    plain = without.seed_channels(ACCOUNT, 2000, seed=5, **window)
    assert [without_flags(c) for c in shared] == [without_flags(c) for c in plain]
    assert all(flags(c) == (False, False, False, False) for c in plain)
    kinds = Counter(flags(c) for c in shared)
    external, pending = kinds[(True, False, True, False)], kinds[(False, False, False, True)]
    org = kinds[(True, True, False, False)]
    assert 0.16 < (external + pending) / 2000 < 0.24 and 0.1 < pending / (external + pending) < 0.3
    assert 0.07 < org / 2000 < 0.13


@pytest.mark.parametrize(("shared", "org_shared"), [(-0.1, 0), (1.5, 0), (0.6, 0.6)])
def test_bad_shares_are_refused(sb: TrutoSandbox, shared: float, org_shared: float) -> None:
    with pytest.raises(ValueError, match="shared"):
        sb.seed_channels(ACCOUNT, 3, shared=shared, org_shared=org_shared)


def test_an_unknown_sharing_is_refused(sb: TrutoSandbox) -> None:
    with pytest.raises(ValueError, match="sharing"):
        sb.add_channel(ACCOUNT, sharing="everyone")


def test_the_cli_seeds_shared_channels() -> None:
    proc = spawn_sandbox_cli(
        "--channels",
        "400",
        "--new-channels",
        "100",
        "--shared",
        "0.25",
        "--org-shared",
        "0.1",
        "--token",
        "sandbox-7c1e94b2d05a",
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip().split("=", 1)[1]
        proc.stdout.readline()
        assert proc.stdout.readline().strip() == "ready"
        answer = requests.get(
            url + "/unified/instant-messaging/channels",
            params={"integrated_account_id": "sandbox-account", "limit": 1000},
            headers={"Authorization": "Bearer sandbox-7c1e94b2d05a"},
            timeout=5,
        ).json()
        channels = answer["result"]
        assert len(channels) == 500
        external = sum(1 for c in channels if external_sharing(c))
        org = sum(1 for c in channels if c["remote_data"]["is_org_shared"])
        assert 0.18 < external / 500 < 0.32 and 0.05 < org / 500 < 0.15
    finally:
        assert stop_process(proc, signal.SIGTERM) == 0


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--shared", "1.5"], "--shared"),
        (["--org-shared", "half"], "--org-shared"),
        (["--shared", "0.7", "--org-shared", "0.7"], "--shared and --org-shared"),
    ],
)
def test_bad_share_flags_are_argparse_errors(args: list[str], named: str) -> None:
    proc = spawn_sandbox_cli(*args)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 2 and named in err
