"""JoinChannelOperator (airflow_provider_truto/operators/instant_messaging.py) run by hand on the sandbox
or on misbehaving servers: one channel, batches, skips, idempotency keys per task instance, a retried
batch that re-sends only what an earlier try did not get through, redirects. The same operator inside a
real Airflow is in tests/integration/."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from airflow_provider_truto.exceptions import (
    TrutoBadRequestError,
    TrutoError,
    TrutoInputError,
    TrutoInvalidResponseError,
    TrutoRedirectError,
)
from airflow_provider_truto.operators.idempotency import task_idempotency_key
from airflow_provider_truto.operators.instant_messaging import (
    CHANNELS_PER_MEMBERSHIP_PAGE,
    MEMBERSHIP_CHECK_MIN_CHANNELS,
    MEMBERSHIP_PAGE_SIZE,
    JoinChannelOperator,
)
from airflow_provider_truto.testing import Fault, TrutoSandbox
from tests.support.helpers import (
    ACCOUNT,
    CHANNELS,
    JOIN,
    AirflowSkipException,
    connection_json,
    hostile_connection,
    task_context,
)
from tests.support.hostile_servers import (
    HostileServer,
    Request,
    channel,
    deeply_nested,
    gateway,
    head,
    json_reply,
    page,
    redirect_to,
    reply,
)


@pytest.fixture(autouse=True)
def connection(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sandbox as the default connection, with one retry per request."""
    monkeypatch.setenv("AIRFLOW_CONN_TRUTO_DEFAULT", connection_json(sandbox, max_retries=1))


@pytest.fixture
def context() -> dict[str, Any]:
    return task_context("j")


# -- one channel, a batch ------------------------------------------------------------------------------------


def test_skip_unjoinable_skips_instead_of_failing(sandbox: Any, context: dict[str, Any]) -> None:
    archived = sandbox.add_channel(ACCOUNT, name="old", status="archived")["id"]
    with pytest.raises(AirflowSkipException, match="is_archived"):
        JoinChannelOperator(task_id="j", channel_id=archived, skip_unjoinable=True).execute(context)
    with pytest.raises(TrutoBadRequestError):
        JoinChannelOperator(task_id="j2", channel_id=archived).execute(context)


def test_channel_object_is_accepted_and_labelled(sandbox: Any, context: dict[str, Any]) -> None:
    channel = sandbox.add_channel(ACCOUNT, name="from-sensor")
    answer = JoinChannelOperator(task_id="j", channel_id=channel).execute(context)
    assert answer["id"] == channel["id"] and context["truto_channel_label"] == "from-sensor"


def test_the_account_named_by_the_channel_object_wins(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_TRUTO_DEFAULT", connection_json(sandbox))  # default account: ACCOUNT
    sandbox.add_account("watched")
    channel = sandbox.add_channel("watched", name="from-an-event")
    event_channel = {"id": channel["id"], "name": channel["name"], "integrated_account_id": "watched"}

    answer = JoinChannelOperator(task_id="j", channel_id=event_channel).execute(task_context("j"))

    assert answer["id"] == channel["id"]
    assert sandbox.join_counts("watched") == {channel["id"]: 1}
    assert [r.query["integrated_account_id"] for r in sandbox.requests if r.path == JOIN] == [["watched"]]


def test_batch_isolates_a_failing_account(sandbox: Any, context: dict[str, Any]) -> None:
    sandbox.add_account("acct-blocked", blocked=True)
    good = [sandbox.add_channel(ACCOUNT, name=f"ok-{n}")["id"] for n in range(3)]
    batch = [{"id": c, "name": c} for c in good] + [
        {"id": "CX1", "name": "b1", "integrated_account_id": "acct-blocked"},
        {"id": "CX2", "name": "b2", "integrated_account_id": "acct-blocked"},
    ]
    with pytest.raises(TrutoError, match="2 of 5 channels were not joined"):
        JoinChannelOperator(task_id="j", channel_ids=batch, max_concurrency=2).execute(context)
    assert sandbox.join_counts(ACCOUNT) == dict.fromkeys(good, 1)
    blocked_calls = [r for r in sandbox.requests if r.query.get("integrated_account_id") == ["acct-blocked"]]
    assert len(blocked_calls) == 1  # the account failed once; its second channel was not tried


def test_an_unreadable_answer_in_one_account_keeps_the_other_accounts_outcomes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One account's join answers JSON nested 100,000 deep: that channel fails, typed; the healthy
    account's joins go through and are counted, and the task still fails."""

    def truto(request: Request, sock: socket.socket) -> None:
        channel_id = request.json()["channel"]["id"]
        if request.query["integrated_account_id"] == ["deep"]:
            reply(sock, 200, deeply_nested())
        else:
            json_reply(sock, 200, channel(channel_id))

    with HostileServer(truto) as server:
        hostile_connection(monkeypatch, server.url)
        batch = [
            {"id": "CD1", "name": "deep-1", "integrated_account_id": "deep"},
            {"id": "CH1", "name": "healthy-1"},
            {"id": "CH2", "name": "healthy-2"},
        ]
        operator = JoinChannelOperator(
            task_id="j", channel_ids=batch, truto_conn_id="hostile", max_concurrency=2
        )
        with pytest.raises(TrutoError) as caught:
            operator.execute(task_context("j"))
    assert "1 of 3 channels were not joined (2 joined, 0 skipped)" in str(caught.value)
    assert "deep-1 (CD1)" in str(caught.value) and "nested too deeply" in str(caught.value)
    assert sorted(r.json()["channel"]["id"] for r in server.requests) == ["CD1", "CH1", "CH2"]


def test_an_unexpected_error_fails_one_channel_not_the_batch(
    sandbox: Any, context: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection into the hook (no HTTP library is stubbed): a join that raises something no one
    foresaw is that channel's failure; the rest of the batch is joined and reported."""
    from airflow_provider_truto.hooks.truto import TrutoHook

    channels = [sandbox.add_channel(ACCOUNT, name=f"c{n}")["id"] for n in range(3)]
    join = TrutoHook.join_channel

    def join_or_break(self: TrutoHook, channel_id: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if channel_id == channels[1]:
            raise RecursionError("maximum recursion depth exceeded")
        return join(self, channel_id, *args, **kwargs)

    monkeypatch.setattr(TrutoHook, "join_channel", join_or_break)
    with pytest.raises(TrutoError) as caught:
        JoinChannelOperator(task_id="j", channel_ids=channels).execute(context)
    assert "1 of 3 channels were not joined (2 joined, 0 skipped)" in str(caught.value)
    assert "unexpected RecursionError: maximum recursion depth exceeded" in str(caught.value)
    assert sandbox.join_counts(ACCOUNT) == {channels[0]: 1, channels[2]: 1}


def empty_join(status: int, body: str) -> Any:
    """Joins answered ``status`` with ``body`` (a proxy in the way), channel lists as Truto would."""

    def behaviour(request: Request, sock: socket.socket) -> None:
        if request.path == JOIN:
            sock.sendall(head(status, {"Content-Type": "application/json"}, length=len(body)) + body.encode())
        else:
            json_reply(sock, 200, page([], None))

    return behaviour


@pytest.mark.parametrize(
    ("status", "body", "problem"),
    [
        (204, "", "an empty answer"),
        (200, "", "an empty answer"),
        (200, "{}", "an empty answer"),
        (200, '{"result": {}}', "an empty answer"),
        (200, '{"name": "general"}', "an object without an id"),
        (200, '{"id": "C-OTHER", "name": "elsewhere"}', "a channel whose id is 'C-OTHER'"),
    ],
    ids=["204", "empty-200", "empty-object", "empty-result", "no-id", "another-channel"],
)
def test_an_answer_that_is_not_the_channel_joined_is_no_join(
    monkeypatch: pytest.MonkeyPatch, status: int, body: str, problem: str
) -> None:
    with HostileServer(empty_join(status, body)) as server:
        hostile_connection(monkeypatch, server.url, max_retries=2)
        with pytest.raises(TrutoInvalidResponseError) as single:
            JoinChannelOperator(task_id="j", channel_id="C1", truto_conn_id="hostile").execute(
                task_context("j")
            )
        batch = JoinChannelOperator(task_id="b", channel_ids=["C1", "C2"], truto_conn_id="hostile")
        with pytest.raises(TrutoError) as batched:
            batch.execute(task_context("b"))
    assert f"joining channel C1 answered {problem}" in str(single.value)
    assert "the join is not counted" in str(single.value)
    # Failed, never "joined": both channels of the batch, each asked once (the hook does not retry it).
    assert "2 of 2 channels were not joined (0 joined, 0 skipped)" in str(batched.value)
    assert [r.json()["channel"]["id"] for r in server.requests if r.path == JOIN] == ["C1", "C1", "C2"]


def test_batch_stops_an_account_after_three_straight_failures(sandbox: Any, context: dict[str, Any]) -> None:
    channels = [sandbox.add_channel(ACCOUNT, name=f"c{n}")["id"] for n in range(6)]
    sandbox.inject("POST", JOIN, 500, repeat=True)
    with pytest.raises(TrutoError, match="6 of 6"):
        JoinChannelOperator(task_id="j", channel_ids=channels).execute(context)
    assert len([r for r in sandbox.requests if r.path == JOIN]) == 3 * 2  # 3 channels x (1 try + 1 retry)


def test_fault_free_batch_returns_outcomes(sandbox: Any, context: dict[str, Any]) -> None:
    ok = sandbox.add_channel(ACCOUNT, name="fine")["id"]
    private = sandbox.add_channel(ACCOUNT, name="secret", type="private_channel")["id"]
    sandbox.inject("POST", JOIN, Fault.rate_limited("0"))
    outcomes = JoinChannelOperator(task_id="j", channel_ids=[ok, private]).execute(context)
    assert [(o["id"], o["outcome"], o["reason"]) for o in outcomes] == [
        (ok, "joined", None),
        (private, "skipped", "method_not_supported_for_channel_type"),
    ]


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({}, "channel_id"),
        ({"channel_id": "C1", "channel_ids": ["C2"]}, "channel_id"),
        ({"channel_id": "C1", "response_format": "xml"}, "response_format"),
        ({"channel_ids": ["C1"], "max_concurrency": 0}, "max_concurrency"),
    ],
)
def test_bad_arguments_fail_at_construction(kwargs: dict[str, Any], argument: str) -> None:
    with pytest.raises(TrutoInputError) as caught:
        JoinChannelOperator(task_id="bad", **kwargs)
    assert caught.value.argument == argument


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"channel_id": ""}, "channel_id"),
        ({"channel_id": {"name": "no id"}}, "channel_id"),
        ({"channel_ids": "C1"}, "channel_ids"),
        ({"channel_ids": ["C1", " "]}, "channel_ids[1]"),
        (
            {"channel_ids": [{"id": "C1", "integrated_account_id": ""}]},
            "channel_ids[0].integrated_account_id",
        ),
    ],
)
def test_bad_templated_values_fail_before_any_request(
    sandbox: Any, context: dict[str, Any], kwargs: dict[str, Any], argument: str
) -> None:
    with pytest.raises(TrutoInputError) as caught:
        JoinChannelOperator(task_id="bad", **kwargs).execute(context)
    assert caught.value.argument == argument and sandbox.requests == []


# -- idempotency keys and retried tries ----------------------------------------------------------------------


def test_retried_task_sends_the_same_key_and_joins_once(sandbox: Any, context: dict[str, Any]) -> None:
    channel = sandbox.add_channel(ACCOUNT, name="retry-me")["id"]
    for _ in range(2):  # two tries of the same task in the same run
        JoinChannelOperator(task_id="j", channel_id=channel).execute(context)
    keys = {r.headers["idempotency-key"] for r in sandbox.requests if r.path == JOIN}
    assert keys == {task_idempotency_key(context, ACCOUNT, "join", channel)}  # type: ignore[arg-type]
    assert sandbox.join_counts(ACCOUNT) == {channel: 1} and sandbox.stats()["idempotent_replays"] == 1


def test_two_tasks_joining_one_channel_get_their_own_answers(
    sandbox: TrutoSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_TRUTO_DEFAULT", connection_json(sandbox))
    channel_id = sandbox.add_channel(ACCOUNT, name="shared")["id"]
    unified = JoinChannelOperator(task_id="unified", channel_id=channel_id).execute(task_context("unified"))
    raw = JoinChannelOperator(task_id="raw", channel_id=channel_id, response_format="raw").execute(
        task_context("raw")
    )
    assert unified["id"] == channel_id and "ok" not in unified
    assert raw["ok"] is True and raw["channel"]["id"] == channel_id  # the raw answer, not the cached one
    JoinChannelOperator(task_id="unified", channel_id=channel_id).execute(task_context("unified"))  # a retry
    for index in (0, 1):
        JoinChannelOperator(task_id="mapped", channel_id=channel_id).execute(task_context("mapped", index))
    keys = [r.headers["idempotency-key"] for r in sandbox.requests if r.path == JOIN]
    assert keys[0] == keys[2]  # the same task instance, again: the same key
    assert len({keys[0], keys[1], keys[3], keys[4]}) == 4  # other tasks, other map indexes: their own


def new_channels(sandbox: Any, count: int, prefix: str = "new") -> list[str]:
    return [sandbox.add_channel(ACCOUNT, name=f"{prefix}-{n}")["id"] for n in range(count)]


def joins_sent(sandbox: Any) -> list[str]:
    return [r.body["channel"]["id"] for r in sandbox.requests if r.method == "POST" and r.path == JOIN]


def list_requests(sandbox: Any) -> int:
    return sum(1 for r in sandbox.requests if r.method == "GET" and r.path == CHANNELS)


def first_try_fails_after(sandbox: Any, channels: list[str], joined: int) -> None:
    """A first try that joins ``joined`` channels, then meets an account-wide 400 and stops."""
    sandbox.inject("POST", JOIN, *[Fault.passthrough()] * joined, 400)
    with pytest.raises(TrutoError, match=f"{len(channels) - joined} of {len(channels)} channels"):
        JoinChannelOperator(task_id="j", channel_ids=channels).execute(task_context(try_number=1))
    assert sandbox.join_counts(ACCOUNT) == dict.fromkeys(channels[:joined], 1)
    sandbox.clear_requests()


def test_a_retry_resends_only_the_joins_an_earlier_try_did_not_get_through(
    sandbox: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    channels = new_channels(sandbox, 20)
    first_try_fails_after(sandbox, channels, joined=12)
    capsys.readouterr()

    outcomes = JoinChannelOperator(task_id="j", channel_ids=channels).execute(task_context(try_number=2))
    logged = capsys.readouterr().out  # the operator logs through Airflow's structlog, to stdout

    assert [(o["id"], o["outcome"]) for o in outcomes] == [(c, "joined") for c in channels]
    assert joins_sent(sandbox) == channels[12:]  # the 12 joined ones are not sent again
    assert list_requests(sandbox) == 1  # 80 channels in the workspace: one page
    assert sandbox.join_counts(ACCOUNT) == dict.fromkeys(channels, 1)
    assert "12 of 20 channels of account acct-1 were joined by an earlier try" in logged
    assert logged.count("by an earlier try") == 1  # each channel's own line is at DEBUG in a batch
    assert "Joined 20 of 20 channels in " in logged  # the summary counts them as joined


def test_a_first_try_lists_nothing(sandbox: Any) -> None:
    channels = new_channels(sandbox, MEMBERSHIP_CHECK_MIN_CHANNELS)
    JoinChannelOperator(task_id="j", channel_ids=channels).execute(task_context(try_number=1))
    assert list_requests(sandbox) == 0 and joins_sent(sandbox) == channels


def test_a_small_retried_batch_resends_its_keyed_joins_instead_of_listing(sandbox: Any) -> None:
    channels = new_channels(sandbox, MEMBERSHIP_CHECK_MIN_CHANNELS - 1)
    first_try_fails_after(sandbox, channels, joined=3)
    JoinChannelOperator(task_id="j", channel_ids=channels).execute(task_context(try_number=2))
    assert list_requests(sandbox) == 0
    assert joins_sent(sandbox) == channels  # the 3 repeats are answered from their idempotency keys
    assert sandbox.join_counts(ACCOUNT) == dict.fromkeys(channels, 1)
    assert sandbox.stats()["idempotent_replays"] == 3


def test_the_list_pass_stops_once_every_channel_of_the_batch_was_seen(sandbox: Any) -> None:
    early = new_channels(sandbox, MEMBERSHIP_CHECK_MIN_CHANNELS * 4, prefix="early")  # within the first page
    sandbox.seed_channels(ACCOUNT, 3 * MEMBERSHIP_PAGE_SIZE, seed=9)  # pages the pass need not read
    first_try_fails_after(sandbox, early, joined=10)
    JoinChannelOperator(task_id="j", channel_ids=early).execute(task_context(try_number=2))
    assert list_requests(sandbox) == 1
    assert joins_sent(sandbox) == early[10:]


def test_the_list_pass_costs_at_most_one_page_per_four_channels(sandbox: Any) -> None:
    # The batch's channels sit behind 3 pages of others: a batch of 8 may read 2 pages, then re-sends.
    sandbox.seed_channels(ACCOUNT, 3 * MEMBERSHIP_PAGE_SIZE, seed=9)
    late = new_channels(sandbox, MEMBERSHIP_CHECK_MIN_CHANNELS, prefix="late")
    first_try_fails_after(sandbox, late, joined=4)
    JoinChannelOperator(task_id="j", channel_ids=late).execute(task_context(try_number=2))
    assert list_requests(sandbox) == MEMBERSHIP_CHECK_MIN_CHANNELS // CHANNELS_PER_MEMBERSHIP_PAGE == 2
    assert joins_sent(sandbox) == late
    assert sandbox.join_counts(ACCOUNT) == dict.fromkeys(late, 1)


def test_a_list_that_cannot_be_read_means_every_join_is_resent(
    sandbox: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    channels = new_channels(sandbox, 10)
    first_try_fails_after(sandbox, channels, joined=6)
    sandbox.inject("GET", CHANNELS, 500, 500)  # the one try and the one retry of the list request
    outcomes = JoinChannelOperator(task_id="j", channel_ids=channels).execute(task_context(try_number=2))
    assert all(o["outcome"] == "joined" for o in outcomes)
    assert joins_sent(sandbox) == channels
    assert sandbox.join_counts(ACCOUNT) == dict.fromkeys(channels, 1)
    assert "re-sending every join" in capsys.readouterr().out


def test_each_account_of_a_retried_batch_is_listed_on_its_own(sandbox: Any) -> None:
    sandbox.add_account("acct-2")
    mine = new_channels(sandbox, 10)
    theirs = [sandbox.add_channel("acct-2", name=f"other-{n}")["id"] for n in range(3)]
    batch = [*mine, *({"id": c, "name": c, "integrated_account_id": "acct-2"} for c in theirs)]
    sandbox.inject("POST", JOIN, *[Fault.passthrough()] * 5, 400)
    with pytest.raises(TrutoError):
        JoinChannelOperator(task_id="j", channel_ids=batch).execute(task_context(try_number=1))
    sandbox.clear_requests()
    JoinChannelOperator(task_id="j", channel_ids=batch).execute(task_context(try_number=2))
    listed = [r.query["integrated_account_id"][0] for r in sandbox.requests if r.path == CHANNELS]
    assert listed == [ACCOUNT]  # acct-2 has too few channels in the batch to be worth a list pass
    assert sorted(joins_sent(sandbox)) == sorted(mine[5:] + theirs)


# -- redirects -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirected_batch_join_fails_instead_of_skipping(
    monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    with HostileServer(gateway(status)) as server:
        hostile_connection(monkeypatch, server.url)
        operator = JoinChannelOperator(task_id="j", channel_ids=["C1", "C2", "C3"], truto_conn_id="hostile")
        with pytest.raises(TrutoError, match="3 of 3 channels were not joined") as caught:
            operator.execute(task_context("j"))
    assert "redirected" in str(caught.value) and "via=gateway" in str(caught.value)
    # Not followed, and the account failed as a whole: one POST, no GET, the other channels not tried.
    assert [r.method for r in server.requests] == ["POST"]


def test_a_redirected_single_join_names_the_location(
    sandbox: TrutoSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel_id = sandbox.add_channel(ACCOUNT, name="c")["id"]
    with HostileServer(redirect_to("https://api.example.test", 301)) as gateway:
        hostile_connection(monkeypatch, gateway.url)
        with pytest.raises(TrutoRedirectError, match=r"https://api\.example\.test/unified") as caught:
            JoinChannelOperator(task_id="j", channel_id=channel_id, truto_conn_id="hostile").execute(
                task_context("j")
            )
    assert "Base URL" in str(caught.value) and caught.value.status_code == 301


# -- what a user sees: the label, the rendered list, the metrics ---------------------------------------


class RecordedStats:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def incr(self, name: str, count: int) -> None:
        self.counts[name] = self.counts.get(name, 0) + count

    def timing(self, name: str, value: Any) -> None:
        pass


def recorded(operator: JoinChannelOperator) -> RecordedStats:
    """Send the operator's metrics (its hook's) to a recorder instead of Airflow's."""
    from airflow_provider_truto.hooks.metrics import AirflowMetrics

    stats = RecordedStats()
    operator.hook.__dict__["metrics"] = AirflowMetrics(stats)
    return stats


def test_a_channel_given_by_id_is_labelled_and_logged_with_its_name(
    sandbox: Any, context: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    channel = sandbox.add_channel(ACCOUNT, name="eng-apollo")["id"]
    operator = JoinChannelOperator(task_id="j", channel_id=channel)
    stats = recorded(operator)
    operator.execute(context)
    assert context["truto_channel_label"] == "eng-apollo"  # what map_index_template shows
    assert f"Joined channel eng-apollo ({channel}) in integrated account {ACCOUNT}" in capsys.readouterr().out
    assert stats.counts == {"truto.requests.2xx": 1, "truto.joins.joined": 1}


def test_a_channel_whose_name_is_not_known_says_so_in_its_label(
    sandbox: Any, context: dict[str, Any]
) -> None:
    archived = sandbox.add_channel(ACCOUNT, name="old", status="archived")["id"]
    operator = JoinChannelOperator(task_id="j", channel_id=archived, skip_unjoinable=True)
    stats = recorded(operator)
    with pytest.raises(AirflowSkipException):
        operator.execute(context)
    assert context["truto_channel_label"] == f"{archived} (name not known yet)"
    assert stats.counts["truto.joins.skipped"] == 1


def test_a_list_param_rendered_as_text_is_read_back(sandbox: Any, context: dict[str, Any]) -> None:
    """``channel_ids="{{ params.ids }}"`` renders to the list's text unless the DAG renders native objects."""
    ids = [sandbox.add_channel(ACCOUNT, name=f"rendered-{n}")["id"] for n in range(3)]
    operator = JoinChannelOperator(
        task_id="j", channel_ids=str(ids), exclude_fields=str(["remote_data"])
    )  # what Airflow renders
    stats = recorded(operator)
    outcomes = operator.execute(context)
    assert [o["id"] for o in outcomes] == ids and {o["outcome"] for o in outcomes} == {"joined"}
    joins = [r for r in sandbox.requests if r.path == JOIN]
    assert all(r.query.get("truto_exclude_fields[]") == ["remote_data"] for r in joins)
    assert stats.counts["truto.joins.joined"] == 3

    with pytest.raises(TrutoInputError) as caught:
        JoinChannelOperator(task_id="j", channel_ids="[C1, C2]").execute(context)
    assert caught.value.argument == "channel_ids" and "does not read as a list" in str(caught.value)


def test_a_channel_name_in_a_batch_is_refused_before_any_join(sandbox: Any, context: dict[str, Any]) -> None:
    good = sandbox.add_channel(ACCOUNT, name="fine")["id"]
    with pytest.raises(TrutoInputError) as caught:
        JoinChannelOperator(task_id="j", channel_ids=[good, "#general"]).execute(context)
    assert caught.value.argument == "channel_ids[1]" and "is a channel's name, not its id" in str(
        caught.value
    )
    assert [r for r in sandbox.requests if r.path == JOIN] == []


def test_a_batch_counts_each_outcome_once_and_names_its_connection_when_it_fails(
    sandbox: Any, context: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    good = [sandbox.add_channel(ACCOUNT, name=f"good-{n}")["id"] for n in range(4)]
    archived = sandbox.add_channel(ACCOUNT, name="old", status="archived")["id"]
    sandbox.inject("POST", JOIN, *([500] * 3), Fault.passthrough(), *([500] * 3))
    operator = JoinChannelOperator(task_id="j", channel_ids=[*good, archived])
    stats = recorded(operator)
    with pytest.raises(TrutoError) as caught:
        operator.execute(context)
    assert str(caught.value).startswith("Truto (connection 'truto_default'): 2 of 5 channels were not joined")
    assert {k: v for k, v in stats.counts.items() if k.startswith("truto.joins")} == {
        "truto.joins.failed": 2,
        "truto.joins.joined": 2,
        "truto.joins.skipped": 1,
    }
    logged = capsys.readouterr().out
    assert "Joining 5 channels; at the connection's pacing (off) that takes" not in logged  # off: no estimate
    assert "Joining 5 channels; pacing is off, so no estimate" in logged
    assert "Joined 2 of 5 channels in " in logged and "1 skipped (is_archived: 1), 2 failed" in logged
