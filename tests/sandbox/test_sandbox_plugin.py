"""The pytest plugin's fixtures, used the way other tests use them."""

from __future__ import annotations

import json
import os

import pytest
import requests

from airflow_provider_truto.testing import TrutoSandbox

CHANNELS = "/unified/instant-messaging/channels"


def test_the_fixture_is_a_seeded_running_sandbox(truto_sandbox):
    assert isinstance(truto_sandbox, TrutoSandbox)
    assert truto_sandbox.account_id == "sandbox-account"
    assert truto_sandbox.token == "sandbox-token"
    assert len(truto_sandbox.channels("sandbox-account")) == 20
    assert json.loads(os.environ["AIRFLOW_CONN_TRUTO_DEFAULT"]) == truto_sandbox.airflow_connection()
    response = requests.get(
        truto_sandbox.url + CHANNELS,
        params={"integrated_account_id": truto_sandbox.account_id},
        headers={"Authorization": "Bearer sandbox-token"},
        timeout=5,
    )
    assert response.json()["result_count"] == 20


def test_the_fixture_seeds_the_same_channels_every_time(truto_sandbox, truto_sandbox_factory):
    other = truto_sandbox_factory()
    other.add_account("x")
    again = other.seed_channels("x", 20, seed=0)
    # Same seed, same shapes (ids differ only if they collide, which they cannot across sandboxes).
    assert [c["id"] for c in again] == [c["id"] for c in truto_sandbox.channels("sandbox-account")]


@pytest.mark.truto_sandbox(channels=5, mixed=False, account_rate_limit=(2, 5.0))
def test_the_marker_configures_the_fixture(truto_sandbox):
    channels = truto_sandbox.channels("sandbox-account")
    assert len(channels) == 5
    assert all(c["type"] == "channel" and c["status"] == "active" for c in channels)
    params = {"integrated_account_id": "sandbox-account"}
    headers = {"Authorization": "Bearer sandbox-token"}
    statuses = [
        requests.get(truto_sandbox.url + CHANNELS, params=params, headers=headers, timeout=5).status_code
        for _ in range(3)
    ]
    assert statuses == [200, 200, 429]


def test_the_factory_stops_what_it_starts(truto_sandbox_factory):
    first = truto_sandbox_factory(token="sandbox-first-51f2a9", latency_ms=1)
    second = truto_sandbox_factory(token="sandbox-second-8d3c07")
    assert first.url != second.url
    first_token = {"Authorization": "Bearer sandbox-first-51f2a9"}
    assert requests.get(first.url + "/integrated-account", headers=first_token).ok
    assert not requests.get(second.url + "/integrated-account", headers=first_token).ok
