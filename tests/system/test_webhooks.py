"""Truto's webhooks received by the provider's plugin on the real api-server, acted on by the webhook DAGs.

The sandbox is Truto: the receiver is registered with it by ``python -m airflow_provider_truto.webhooks
register`` (the secret goes into a database connection), and the sandbox sends signed deliveries when a
workspace connects or a channel is created. The DAGs run under the session's scheduler, dag-processor and
triggerer. Forged, unsigned, stale and repeated deliveries are sent by hand beside the sandbox's own.
Exactly once is checked across two api-server workers (one on Airflow 3.0) and a restart.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests

from airflow_provider_truto.auto_join.policy import AutoJoinPolicy
from airflow_provider_truto.auto_join.selection import is_auto_joinable
from airflow_provider_truto.testing import Fault, TrutoSandbox
from airflow_provider_truto.testing.webhooks import Delivery, Webhook
from airflow_provider_truto.webhooks.events import DEFAULT_EVENT_TYPES, WORKSPACE_CONNECTED_ASSET
from airflow_provider_truto.webhooks.signature import SIGNATURE_HEADER, sign
from tests.support.helpers import AIRFLOW_VERSION
from tests.system.airflow_services import wait_for
from tests.system.leaks import files_with, rows_with
from tests.system.runs import JOIN_PATH, WEBHOOK_AUTO_JOIN_DAG, WEBHOOK_CHANNEL_DAG, joins_outcome

pytestmark = pytest.mark.system

CONN = "truto_webhooks"
WORKSPACE_CHANNELS = 120
DELIVERY_TO_JOINED_LIMIT = 120.0  # seconds: the bound for a 120-channel workspace
# Slack lets a workspace join about 50 channels a minute: the join after those is answered Slack's 429
# (passed through by Truto) with a full minute's Retry-After, the most Slack asks for.
SLACK_JOINS_PER_MINUTE = 50
SLACK_RETRY_AFTER = 60
# Airflow 3.0's api-server cannot start two workers on a small machine: uvicorn's fixed 5 s health check
# kills each one while it still imports Airflow, in a loop (3.3 hands uvicorn the worker timeout). On 3.0
# the concurrent deliveries go to one worker's threads instead.
API_WORKERS = 1 if AIRFLOW_VERSION < (3, 1) else 2


@pytest.fixture(scope="module")
def webhook(stack: Any, truto: TrutoSandbox) -> Iterator[Webhook]:
    """The receiver registered with the sandbox, its secret stored in a database connection by the CLI.

    The connection keeps the provider's default pacing (Truto's limits), as a user's does."""
    stack.api.set_connection(
        {"connection_id": CONN, "conn_type": "truto", "host": truto.url, "password": truto.token}
    )
    url = f"{stack.base_url}/truto/webhooks/{CONN}"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "airflow_provider_truto.webhooks",
            "register",
            "--conn-id",
            CONN,
            "--url",
            url,
        ],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [registered] = [w for w in truto.webhooks if w.target_url == url]
    assert registered.event_types == list(DEFAULT_EVENT_TYPES)
    assert registered.secret not in done.stdout + done.stderr
    try:
        yield registered
    finally:
        registered.is_active = False  # later tests' channels send nothing


def delivered(truto: TrutoSandbox, account: str, event: str) -> Delivery:
    """The sandbox's delivery of ``event`` for ``account``, once it is answered."""

    def find() -> Delivery | None:
        for delivery in truto.webhook_deliveries:
            body = json.loads(delivery.body)
            payload = body.get("payload") or {}
            owner = (
                payload.get("id")
                if event.startswith("integrated_account")
                else payload.get("integrated_account_id")
            )
            if body.get("event") == event and owner == account and delivery.done.is_set():
                return delivery
        return None

    return wait_for(f"the {event} delivery for {account}", find, timeout=60, interval=0.2)


def expected_joins(truto: TrutoSandbox, account: str) -> set[str]:
    """The channels the auto-join would join in this workspace (default policy, no cutoff)."""
    policy = AutoJoinPolicy()
    return {c["id"] for c in truto.channels(account) if is_auto_joinable(c, None, policy)}


def join_times(truto: TrutoSandbox, account: str) -> dict[str, float]:
    """Channel id -> when its first successful join arrived (time.monotonic())."""
    times: dict[str, float] = {}
    for request in truto.requests:
        ours = request.path == JOIN_PATH and request.query.get("integrated_account_id") == [account]
        if ours and request.status == 200:
            times.setdefault(str(request.body["channel"]["id"]), request.at)
    return times


def asset_events(db: Any, event_id: str | None = None) -> int:
    if event_id is None:
        return int(
            db.value("SELECT count(*) FROM asset_event WHERE extra::text LIKE %s", '%"truto_event_id"%')
        )
    return int(db.value("SELECT count(*) FROM asset_event WHERE extra::text LIKE %s", f'%"{event_id}"%'))


def webhook_runs(db: Any) -> int:
    dags = (WEBHOOK_AUTO_JOIN_DAG, WEBHOOK_CHANNEL_DAG)
    return int(db.value("SELECT count(*) FROM dag_run WHERE dag_id IN (%s, %s)", *dags))


def runs_settled(stack: Any, db: Any) -> bool:
    stack.check_alive()
    dags = (WEBHOOK_AUTO_JOIN_DAG, WEBHOOK_CHANNEL_DAG)
    busy = db.value(
        "SELECT count(*) FROM dag_run WHERE dag_id IN (%s, %s) AND state NOT IN ('success', 'failed')", *dags
    )
    queued = db.value("SELECT count(*) FROM asset_dag_run_queue")
    return not busy and not queued


def signed_event(webhook: Webhook, account: dict[str, Any], *, age: timedelta = timedelta(0)) -> bytes:
    created = (datetime.now(timezone.utc) - age).strftime("%Y-%m-%d %H:%M:%S")
    body = {
        "id": str(uuid.uuid4()),
        "event": "integrated_account:created",
        "payload": account,
        "environment_id": webhook.environment_id,
        "webhook_id": webhook.id,
        "created_at": created,
    }
    return json.dumps(body).encode()


def post(url: str, body: bytes, signature: str | None) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers[SIGNATURE_HEADER] = signature
    return requests.post(url, data=body, headers=headers, timeout=30, proxies={"http": "", "https": ""})


@pytest.fixture(scope="module")
def connected(stack: Any, db: Any, truto: TrutoSandbox, webhook: Webhook) -> tuple[str, Delivery, set[str]]:
    """A customer connects a 120-channel workspace; the DAG joins its eligible channels, under Slack's
    limit."""
    passes = [Fault.passthrough()] * SLACK_JOINS_PER_MINUTE
    truto.inject("POST", JOIN_PATH, *passes, Fault.rate_limited(SLACK_RETRY_AFTER))
    try:
        account = truto.connect_workspace(
            f"webhook-ws-{uuid.uuid4().hex[:8]}", channels=WORKSPACE_CHANNELS, seed=23
        )
        delivery = delivered(truto, account.id, "integrated_account:created")
        expected = expected_joins(truto, account.id)
        # Mixed (private, archived, joined channels left alone), and more than Slack joins in a minute.
        assert SLACK_JOINS_PER_MINUTE < len(expected) < WORKSPACE_CHANNELS
        wait_for(
            f"the {len(expected)} eligible channels of {account.id} to be joined",
            lambda: stack.check_alive() or set(join_times(truto, account.id)) >= expected,
            timeout=DELIVERY_TO_JOINED_LIMIT + 60,
            interval=0.5,
        )
    finally:
        truto.clear_faults()
    wait_for("the webhook DAG runs to finish", lambda: runs_settled(stack, db), timeout=120, interval=1)
    return account.id, delivery, expected


def test_a_connected_workspace_gets_every_eligible_channel_joined_once_within_120s(
    connected: tuple[str, Delivery, set[str]], truto: TrutoSandbox, db: Any, figure: Any
) -> None:
    account, delivery, expected = connected
    assert delivery.attempts == [200]
    assert json.loads(delivery.answers[0])["status"] == "recorded"
    assert delivery.sent_at is not None
    seconds = max(join_times(truto, account).values()) - delivery.sent_at
    limited = [
        r
        for r in truto.requests
        if r.path == JOIN_PATH and r.status == 429 and r.query.get("integrated_account_id") == [account]
    ]
    figure(
        f"webhook integrated_account:created answered in {delivery.seconds[0] * 1000:.0f} ms; its"
        f" {len(expected)} eligible channels of {WORKSPACE_CHANNELS} joined {seconds:.1f}s after the delivery"
        f" under Slack's limit ({len(limited)} join answered 429, Retry-After {SLACK_RETRY_AFTER}s;"
        f" {joins_outcome(truto.join_counts(account), expected)})"
    )
    assert len(limited) == 1  # Slack's limit was met, and waited out
    assert truto.join_counts(account) == dict.fromkeys(expected, 1)
    assert seconds < DELIVERY_TO_JOINED_LIMIT
    states = db.rows("SELECT state FROM dag_run WHERE dag_id = %s", WEBHOOK_AUTO_JOIN_DAG)
    assert states and {state for (state,) in states} == {"success"}


def test_a_created_channel_is_joined_through_record_created(
    connected: tuple[str, Delivery, set[str]], stack: Any, db: Any, truto: TrutoSandbox, figure: Any
) -> None:
    account, _, _ = connected
    created = time.monotonic()
    channel = truto.add_channel(account, name=f"eng-webhook-{uuid.uuid4().hex[:6]}")
    private = truto.add_channel(account, name="eng-private-webhook", type="private_channel")
    wait_for("the new channel to be joined", lambda: channel["id"] in join_times(truto, account), timeout=180)
    seconds = join_times(truto, account)[channel["id"]] - created
    figure(f"webhook record:created -> channel joined {seconds:.1f}s after its creation")
    answers = [json.loads(d.answers[0]) for d in truto.webhook_deliveries[-2:]]
    assert [a["status"] for a in answers] == ["recorded", "ignored"]  # the private channel: no run for it
    wait_for("the webhook DAG runs to finish", lambda: runs_settled(stack, db), timeout=120, interval=1)
    assert truto.join_counts(account)[channel["id"]] == 1 and private["id"] not in truto.join_counts(account)


def test_forged_unsigned_stale_and_repeated_deliveries_do_nothing_more(
    connected: tuple[str, Delivery, set[str]],
    stack: Any,
    db: Any,
    truto: TrutoSandbox,
    webhook: Webhook,
    figure: Any,
) -> None:
    account_id, first, _ = connected
    # A workspace with channels to join, which only a wrongly accepted delivery would touch.
    target = truto.add_account(f"webhook-target-{uuid.uuid4().hex[:8]}")
    truto.seed_channels(target.id, 30, seed=5)
    url = webhook.target_url
    before = (asset_events(db), webhook_runs(db), sum(truto.join_counts().values()))

    body = signed_event(webhook, target.to_wire())
    forged = post(url, body, sign("a-guessed-secret", body))
    unsigned = post(url, body, None)
    tampered = post(url, body.replace(target.id.encode(), account_id.encode()), sign(webhook.secret, body))
    stale_body = signed_event(webhook, target.to_wire(), age=timedelta(minutes=30))
    stale = post(url, stale_body, sign(webhook.secret, stale_body))
    assert [forged.status_code, unsigned.status_code, tampered.status_code] == [401, 401, 401]
    assert stale.status_code == 400 and stale.json()["error"].startswith("stale")

    started = time.monotonic()
    again = truto.resend(first)  # Truto's retry of the first workspace's delivery
    truto.wait_for_webhooks(30)
    with ThreadPoolExecutor(6) as pool:  # and the same bytes six times at once
        concurrent = list(
            pool.map(lambda _: post(url, first.body, sign(webhook.secret, first.body)), range(6))
        )
    assert again.attempts == [200] and json.loads(again.answers[0])["status"] == "duplicate"
    assert [a.status_code for a in concurrent] == [200] * 6
    assert {a.json()["status"] for a in concurrent} == {"duplicate"}
    figure(f"webhook repeated 7 times: 7 answered 2xx 'duplicate' in {time.monotonic() - started:.1f}s")

    time.sleep(5)  # room for a wrongly started run to show up
    wait_for("the webhook DAG runs to finish", lambda: runs_settled(stack, db), timeout=120, interval=1)
    assert (asset_events(db), webhook_runs(db), sum(truto.join_counts().values())) == before
    assert truto.join_counts(target.id) == {}


def test_exactly_once_across_api_server_workers_and_a_restart(
    connected: tuple[str, Delivery, set[str]],
    stack: Any,
    db: Any,
    truto: TrutoSandbox,
    webhook: Webhook,
    figure: Any,
) -> None:
    account = truto.add_account(f"webhook-once-{uuid.uuid4().hex[:8]}")
    truto.seed_channels(account.id, 20, seed=9, mixed=False)
    body = signed_event(webhook, account.to_wire())
    event_id = json.loads(body)["id"]
    signature = sign(webhook.secret, body)
    expected = {c["id"] for c in truto.channels(account.id)}
    try:
        if API_WORKERS > 1:  # the stack's api-server runs one worker
            stack.service_env["api-server"] = {"AIRFLOW__API__WORKERS": str(API_WORKERS)}
            stack.restart("api-server")
            wait_for(f"the api-server with {API_WORKERS} workers", stack.api.healthy, timeout=180, interval=1)
        with ThreadPoolExecutor(10) as pool:
            answers = list(pool.map(lambda _: post(webhook.target_url, body, signature), range(10)))
        latencies = sorted(a.elapsed.total_seconds() for a in answers)
        # The run's tasks talk to the api-server: it is restarted only once they are done.
        wait_for(
            "the workspace to be joined", lambda: set(join_times(truto, account.id)) >= expected, timeout=180
        )
        wait_for("the webhook DAG runs to finish", lambda: runs_settled(stack, db), timeout=120, interval=1)
    finally:
        stack.service_env.pop("api-server", None)
        stack.restart("api-server")
        wait_for("the api-server", stack.api.healthy, timeout=180, interval=1)
    statuses = sorted(a.json()["status"] for a in answers)
    assert [a.status_code for a in answers] == [200] * 10
    assert statuses == ["duplicate"] * 9 + ["recorded"], statuses
    after_restart = post(webhook.target_url, body, signature)
    assert after_restart.status_code == 200 and after_restart.json()["status"] == "duplicate"
    assert asset_events(db, event_id) == 1
    assert truto.join_counts(account.id) == dict.fromkeys(expected, 1)
    median, slowest = statistics.median(latencies) * 1000, latencies[-1] * 1000
    figure(
        f"webhook: 10 concurrent deliveries over {API_WORKERS} api-server workers -> 1 asset event;"
        f" answered in {median:.0f} ms median, {slowest:.0f} ms slowest"
    )
    cold = after_restart.elapsed.total_seconds() * 1000
    figure(f"webhook: the first delivery after an api-server restart answered in {cold:.0f} ms")


def test_the_secret_is_in_no_log_no_answer_and_no_task_output(
    connected: tuple[str, Delivery, set[str]], stack: Any, db: Any, postgres: Any, webhook: Webhook
) -> None:
    logs = [
        *stack.logs.glob("*.log"),
        postgres.log,
        *(p for p in (stack.home / "logs").rglob("*") if p.is_file()),
    ]
    assert any("dag_id=example_truto_webhook" in str(p) for p in logs)
    assert files_with(logs, webhook.secret) == []
    for table, column in (("xcom", "value"), ("asset_event", "extra"), ("log", "extra"), ("dag_run", "conf")):
        assert rows_with(db, table, column, webhook.secret) == 0, table
    shown = stack.api.call("GET", f"/connections/{CONN}")
    assert webhook.secret not in json.dumps(shown) and json.loads(shown["extra"])["webhook_secret"] == "***"
    assert (
        db.value(
            "SELECT count(*) FROM asset_event e JOIN asset a ON a.id = e.asset_id WHERE a.name = %s",
            WORKSPACE_CONNECTED_ASSET,
        )
        >= 2
    )
