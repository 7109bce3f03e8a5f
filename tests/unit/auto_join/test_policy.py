"""The auto-join policy (airflow_provider_truto/policy.py): its rules and bad input, and one table of cases
that the DAG's selection, the sensor's poke and the trigger's selection all agree on, each through its own
code over real HTTP."""

from __future__ import annotations

import asyncio
import importlib.util
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest

from airflow_provider_truto.auto_join.planning import plan_auto_join
from airflow_provider_truto.auto_join.policy import (
    EXCLUDED_BY_NAME,
    NOT_INCLUDED_BY_NAME,
    SHARED_EXTERNALLY,
    SHARING_UNKNOWN,
    AutoJoinPolicy,
    external_sharing,
    parse_account_policies,
)
from airflow_provider_truto.auto_join.selection import exclusion_reason, select_auto_join
from airflow_provider_truto.exceptions import TrutoInputError
from airflow_provider_truto.hooks.truto import TrutoHook
from airflow_provider_truto.sensors.truto import TrutoNewChannelsSensor
from airflow_provider_truto.triggers.truto import TrutoNewChannelsTrigger
from tests.support.helpers import ACCOUNT, INTERNAL, NO_REMOTE_DATA, REPO, public_channel
from tests.support.hostile_servers import ChannelList

NAMES = {"include": ["eng-*", "support-??"], "exclude": ["eng-secret-*"]}


@dataclass(frozen=True)
class Case:
    label: str
    policy: dict[str, Any]
    channel: dict[str, Any] = field(hash=False)
    reason: str | None  # what the policy-aware selection says; None: the bot joins it


EXT = {**INTERNAL, "is_ext_shared": True, "is_shared": True}  # Slack Connect


PENDING = {**INTERNAL, "is_pending_ext_shared": True}  # an invitation to share, not yet accepted


ORG = {**INTERNAL, "is_org_shared": True, "is_shared": True}  # Enterprise Grid-wide: internal


PENDING_ONLY = {"is_pending_ext_shared": True}  # no is_ext_shared, but the pending flag says enough


TEXT_FLAGS = {**INTERNAL, "is_ext_shared": "true"}  # a proxy turned the booleans into text


SHARED_INSIDE = {**INTERNAL, "is_shared": True}  # shared, but not with another organisation


NO_RD = NO_REMOTE_DATA


SHARED, UNKNOWN, EXCLUDED, NOT_INCLUDED = (
    SHARED_EXTERNALLY,
    SHARING_UNKNOWN,
    EXCLUDED_BY_NAME,
    NOT_INCLUDED_BY_NAME,
)


ALL_SHARED = {"include_shared": True}


# The one table: every consumer of the policy is checked against each row.
CASES = [
    Case("default: internal", {}, public_channel("general"), None),
    Case("default: Slack Connect", {}, public_channel("acme-x", remote_data=EXT), SHARED),
    Case("default: pending invitation", {}, public_channel("acme-y", remote_data=PENDING), SHARED),
    Case("default: pending flag alone", {}, public_channel("acme-z", remote_data=PENDING_ONLY), SHARED),
    Case("default: flags as text", {}, public_channel("acme-t", remote_data=TEXT_FLAGS), SHARED),
    Case("default: Enterprise Grid org-wide", {}, public_channel("grid", remote_data=ORG), None),
    Case("default: is_shared without ext", {}, public_channel("inside", remote_data=SHARED_INSIDE), None),
    Case("default: no remote_data", {}, public_channel("bare", remote_data=NO_RD), UNKNOWN),
    Case("default: null remote_data", {}, public_channel("null-rd", remote_data=None), UNKNOWN),
    Case(
        "default: remote_data without flags", {}, public_channel("other-rd", remote_data={"foo": 1}), UNKNOWN
    ),
    Case("shared: Slack Connect joins", ALL_SHARED, public_channel("acme-x", remote_data=EXT), None),
    Case("shared: no remote_data joins", ALL_SHARED, public_channel("bare", remote_data=NO_RD), None),
    Case("names: included", NAMES, public_channel("eng-apollo"), None),
    Case("names: exclude wins over include", NAMES, public_channel("eng-secret-plans"), EXCLUDED),
    Case("names: ?? is two characters", NAMES, public_channel("support-eu"), None),
    Case("names: ?? is not four", NAMES, public_channel("support-emea"), NOT_INCLUDED),
    Case("names: not included", NAMES, public_channel("social-fun"), NOT_INCLUDED),
    Case("names: a glob matches the whole name", NAMES, public_channel("team-eng-x"), NOT_INCLUDED),
    Case("names: no name is not included", NAMES, public_channel(None), NOT_INCLUDED),
    Case("names before sharing: excluded", NAMES, public_channel("eng-secret-1", remote_data=EXT), EXCLUDED),
    Case(
        "names before sharing: not included", NAMES, public_channel("random", remote_data=NO_RD), NOT_INCLUDED
    ),
    Case("names, then sharing", NAMES, public_channel("eng-vendor", remote_data=EXT), SHARED),
    Case("case: upper-case include", {"include": ["ENG-*"]}, public_channel("eng-x"), None),
    Case("case: a name with capitals", {"include": ["eng-*"]}, public_channel("Eng-Y"), None),
    Case(
        "case: # and capitals in exclude", {"exclude": ["#*-Private"]}, public_channel("hr-private"), EXCLUDED
    ),
    Case("exclude only: other names join", {"exclude": ["random"]}, public_channel("random-2"), None),
    Case("exclude only: the exact name", {"exclude": ["random"]}, public_channel("random"), EXCLUDED),
    Case("character class", {"include": ["data-[0-9]*"]}, public_channel("data-7x"), None),
    Case("negated class", {"include": ["data-[!0-9]*"]}, public_channel("data-7x"), NOT_INCLUDED),
    Case(
        "selection rules first", NAMES, public_channel("eng-secret-2", type="private_channel"), "not public"
    ),
    Case(
        "member before policy",
        {},
        public_channel("member", remote_data=NO_RD, is_member=True),
        "already a member",
    ),
]


def with_ids(cases: list[Case]) -> list[tuple[Case, dict[str, Any]]]:
    return [(case, {**case.channel, "id": f"C{index:03d}"}) for index, case in enumerate(cases)]


@pytest.mark.parametrize("case", CASES, ids=[case.label for case in CASES])
def test_each_case_of_the_table(case: Case) -> None:
    policy = AutoJoinPolicy.build(**case.policy)
    assert exclusion_reason(case.channel, None, policy) == case.reason
    # Without a policy only the selection's own rules apply: the policy is all that leaves these out.
    if case.reason not in ("not public", "already a member"):
        assert exclusion_reason(case.channel, None) is None


def test_sharing_is_read_from_slacks_flags_only() -> None:
    assert external_sharing(public_channel("x")) is False
    assert external_sharing(public_channel("x", remote_data={**INTERNAL, "is_ext_shared": True})) is True
    assert external_sharing(public_channel("x", remote_data=NO_REMOTE_DATA)) is None
    assert external_sharing(public_channel("x", remote_data=["not", "a", "mapping"])) is None


def test_build_normalises_and_is_stable() -> None:
    policy = AutoJoinPolicy.build(include="ENG-*", exclude=[" #eng-old-* ", "eng-old-*", "x"])
    assert policy == AutoJoinPolicy(include=("eng-*",), exclude=("eng-old-*", "x"))
    assert policy.to_kwargs() == {
        "include": ["eng-*"],
        "exclude": ["eng-old-*", "x"],
        "include_shared": False,
    }
    assert AutoJoinPolicy.build(**policy.to_kwargs()) == policy
    json.dumps(policy.to_kwargs())
    assert AutoJoinPolicy.build(None, [], False) == AutoJoinPolicy() != policy
    assert AutoJoinPolicy().needs_remote_data and not AutoJoinPolicy(include_shared=True).needs_remote_data


@pytest.mark.parametrize(
    ("kwargs", "argument", "words"),
    [
        ({"include": ["eng-*", 7]}, "include", "pattern 1 is not a string"),
        ({"include": [None]}, "include", "pattern 0 is not a string"),
        ({"exclude": ["  "]}, "exclude", "pattern 0 is empty"),
        ({"exclude": {"eng-*": True}}, "exclude", "glob pattern or a list"),
        ({"include": 5}, "include", "glob pattern or a list"),
        ({"include_shared": "yes"}, "include_shared", "true or false"),
        ({"include_shared": None}, "include_shared", "true or false"),
    ],
)
def test_bad_input_names_the_param(kwargs: dict[str, Any], argument: str, words: str) -> None:
    with pytest.raises(TrutoInputError) as caught:
        AutoJoinPolicy.build(**kwargs)
    assert caught.value.argument == argument and words in str(caught.value)
    with pytest.raises(TrutoInputError):
        AutoJoinPolicy(**{k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()})


def test_account_policies_override_key_by_key() -> None:
    base = AutoJoinPolicy.build(include=["eng-*"], exclude=["eng-old-*"])
    policies = parse_account_policies(
        {"A": {"include_shared": True}, "B": {"include": [], "exclude": "social-*"}}, base
    )
    assert policies["A"] == AutoJoinPolicy(include=("eng-*",), exclude=("eng-old-*",), include_shared=True)
    assert policies["B"] == AutoJoinPolicy(exclude=("social-*",))
    assert parse_account_policies(None, base) == {} == parse_account_policies({}, base)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ({"A": {"includes": ["eng-*"]}}, "account A: unknown key(s) includes"),
        ({"A": {"include": [1]}}, "account A: include: pattern 0 is not a string"),
        ({"A": {"include_shared": "true"}}, "account A: include_shared: must be true or false"),
        ({"A": ["eng-*"]}, "account A: must be a mapping"),
        (["A"], "must map account ids to policies"),
        ({"  ": {}}, "keys must be account ids"),
    ],
)
def test_bad_account_policies_name_the_param(value: Any, words: str) -> None:
    with pytest.raises(TrutoInputError) as caught:
        parse_account_policies(value, AutoJoinPolicy())
    assert caught.value.argument == "account_policies" and words in str(caught.value)


def test_left_out_counts_say_what_each_rule_left_out() -> None:
    channels = [
        {**c, "id": f"C{i}"} for i, c in enumerate(case.channel for case in CASES if case.policy == NAMES)
    ]
    left_out: Counter[str] = Counter()
    selected = select_auto_join(channels, None, left_out, AutoJoinPolicy.build(**NAMES))
    assert [c["name"] for c in selected] == ["eng-apollo", "support-eu"]
    assert left_out == {
        NOT_INCLUDED_BY_NAME: 5,
        EXCLUDED_BY_NAME: 2,
        SHARED_EXTERNALLY: 1,
        "not public": 1,
    }


def policy_groups() -> list[tuple[str, dict[str, Any], list[tuple[Case, dict[str, Any]]]]]:
    groups: dict[str, tuple[dict[str, Any], list[Case]]] = {}
    for case in CASES:
        groups.setdefault(json.dumps(case.policy, sort_keys=True), (case.policy, []))[1].append(case)
    return [(key, policy, with_ids(cases)) for key, (policy, cases) in groups.items()]


GROUPS = policy_groups()


@pytest.mark.parametrize(("label", "policy", "rows"), GROUPS, ids=[g[0] for g in GROUPS])
def test_the_dag_the_sensor_and_the_trigger_agree_with_the_table(
    channel_list: ChannelList, label: str, policy: dict[str, Any], rows: list[tuple[Case, dict[str, Any]]]
) -> None:
    channel_list.channels = [served for _, served in rows]
    expected = [served["id"] for case, served in rows if case.reason is None]
    expected_left_out = Counter(case.reason for case, _ in rows if case.reason is not None)

    # The scheduled DAG's selection task.
    plan = plan_auto_join(TrutoHook(), policy=AutoJoinPolicy.build(**policy), max_tasks=1000)
    assert [ref["id"] for batch in plan.batches for ref in batch] == expected
    assert plan.accounts[ACCOUNT]["left_out"] == expected_left_out
    assert plan.accounts[ACCOUNT]["selected"] == len(expected)

    # The sensor's poke.
    poked = TrutoNewChannelsSensor(task_id="wait", **policy).poke({})  # type: ignore[arg-type]
    assert poked.is_done == bool(expected)
    assert sorted(c["id"] for c in poked.xcom_value or []) == sorted(expected)

    # The trigger, re-created from its serialised kwargs as the triggerer does.
    _, kwargs = TrutoNewChannelsTrigger(poll_interval=0.05, **policy).serialize()
    json.dumps(kwargs)
    # An awaited event may take a loaded machine some seconds (the first poll imports httpx); none awaited
    # is given 1 s to show up wrongly.
    fired = asyncio.run(first_event(kwargs, timeout=10.0 if expected else 1.0))
    assert sorted(c["id"] for c in fired) == sorted(expected)

    # Whatever the policy, nobody asked Truto to drop remote_data while the policy needs it.
    if AutoJoinPolicy.build(**policy).needs_remote_data:
        assert not any("truto_ignore_remote_data" in query for query in channel_list.queries)


async def first_event(kwargs: dict[str, Any], timeout: float) -> list[dict[str, Any]]:
    """The channels of the trigger's first event, or none if it has not fired within ``timeout``."""
    events = TrutoNewChannelsTrigger(**kwargs).run()
    try:
        payload = (await asyncio.wait_for(events.__anext__(), timeout)).payload
    except asyncio.TimeoutError:  # not the built-in TimeoutError before Python 3.11
        return []
    finally:
        await events.aclose()
    assert payload["status"] == "success", payload
    return list(payload["channels"])


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"include": [3]}, "include"),
        ({"exclude": ""}, "exclude"),
        ({"include_shared": "no"}, "include_shared"),
    ],
)
def test_the_sensor_and_the_trigger_refuse_a_bad_policy_when_built(
    kwargs: dict[str, Any], argument: str
) -> None:
    for build in (
        lambda: TrutoNewChannelsSensor(task_id="w", **kwargs),
        lambda: TrutoNewChannelsTrigger(**kwargs),
    ):
        with pytest.raises(TrutoInputError) as caught:
            build()
        assert caught.value.argument == argument


def load_event_example() -> Any:
    path = REPO / "example_dags" / "example_truto_join_on_new_channel_event.py"
    spec = importlib.util.spec_from_file_location("event_example_under_test", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_event_driven_example_takes_the_policy_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRUTO_WATCH_INCLUDE", " eng-*, ops-* ,")
    monkeypatch.setenv("TRUTO_WATCH_EXCLUDE", "eng-old-*")
    monkeypatch.setenv("TRUTO_WATCH_INCLUDE_SHARED", "True")
    first = load_event_example().new_slack_channels.watchers[0].trigger
    assert first.policy == AutoJoinPolicy(
        include=("eng-*", "ops-*"), exclude=("eng-old-*",), include_shared=True
    )
    # Parsed twice, the same kwargs: Airflow identifies the watcher by them.
    assert load_event_example().new_slack_channels.watchers[0].trigger.serialize() == first.serialize()

    monkeypatch.setenv("TRUTO_WATCH_INCLUDE_SHARED", "maybe")
    with pytest.raises(TrutoInputError) as caught:
        load_event_example()
    assert caught.value.argument == "TRUTO_WATCH_INCLUDE_SHARED"
