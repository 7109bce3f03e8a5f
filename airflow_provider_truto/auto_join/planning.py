"""The auto-join job's first end: which accounts, which of their channels, and how they are cut into the
mapped join tasks.

Used by ``example_truto_auto_join_channels``'s planning task; the join itself is ``JoinChannelOperator``
mapped over the planned batches, and :mod:`~airflow_provider_truto.auto_join.report` sums up what
happened.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from airflow_provider_truto.auto_join.defaults import ALL_ACCOUNTS, DEFAULT_CHANNELS_PER_PAGE
from airflow_provider_truto.auto_join.listing import channel_list_query
from airflow_provider_truto.auto_join.outcomes import is_account_wide
from airflow_provider_truto.auto_join.policy import AutoJoinPolicy, parse_account_policies
from airflow_provider_truto.auto_join.report import describe_left_out
from airflow_provider_truto.auto_join.selection import ChannelRef, select_auto_join
from airflow_provider_truto.auto_join.timestamps import parse_timestamp
from airflow_provider_truto.client.validation import given
from airflow_provider_truto.exceptions import TrutoError, TrutoInputError

log = logging.getLogger(__name__)

JOINABLE_INTEGRATIONS = frozenset({"slack"})  # of Truto's messaging integrations, only Slack can join
ACCOUNTS_PAGE_SIZE = 200  # the admin list of integrated accounts
FIRST_NAMES = 10  # channel names per account a report shows (and XCom carries)


@dataclass
class AutoJoinPlan:
    """The mapped batches, and per account what the selection found or why the account was left out.

    Per account: ``selected`` (a count), ``first`` (the first selected names), ``left_out`` (channels
    not selected, by reason) and ``error``. A dry run plans no batch, so no join task is created.
    """

    batches: list[list[ChannelRef]]
    accounts: dict[str, dict[str, Any]]
    dry_run: bool = False


class TrutoReader(Protocol):
    """What planning reads through: :class:`~airflow_provider_truto.hooks.truto.TrutoHook` is one."""

    def account_id(self, integrated_account_id: str | None = None) -> str: ...

    def list_channels(
        self, integrated_account_id: str | None = None, *, limit: int | None = None, **filters: Any
    ) -> Iterator[dict[str, Any]]: ...

    def list_integrated_accounts(
        self, *, limit: int | None = None, **filters: Any
    ) -> Iterator[dict[str, Any]]: ...


def plan_auto_join(
    hook: TrutoReader,
    *,
    integrated_account_id: str | None = None,
    integrated_account_ids: str | Sequence[str] | None = None,
    created_after: Any = None,
    last_success_start: datetime | None = None,
    overlap: timedelta = timedelta(hours=1),
    max_tasks: int = 64,
    accounts_at_once: int = 16,
    policy: AutoJoinPolicy | None = None,
    account_policies: Mapping[str, Any] | None = None,
    dry_run: bool = False,
) -> AutoJoinPlan:
    """List each account's channels (every page), select the new public ones, cut them into batches.

    ``hook`` reads Truto (a :class:`~airflow_provider_truto.hooks.truto.TrutoHook`; the caller closes it).

    ``policy`` (default: :class:`AutoJoinPolicy`'s defaults) applies to every account;
    ``account_policies`` maps an account id to its own ``include`` / ``exclude`` / ``include_shared``
    (keys it leaves out keep ``policy``'s). A policy for an account this run does not select is a
    :class:`TrutoInputError`, raised before any channel is listed. ``dry_run`` selects and reports but
    plans no join.

    One account: any failure fails the task. Several accounts: an account that cannot be listed for
    good (needs re-auth, blocked, missing scope, gone) is reported with its reason and left out, and the
    others go on; a transient failure still fails the task, so the run is retried.
    """
    base = policy if policy is not None else AutoJoinPolicy()
    policies = parse_account_policies(account_policies, base)
    if not isinstance(dry_run, bool):
        raise TrutoInputError("dry_run", f"must be true or false, got {dry_run!r}")
    cutoff = auto_join_cutoff(created_after, last_success_start, overlap)
    log.info("Joining channels created after %s", cutoff.isoformat() if cutoff else "any time (first run)")
    accounts: dict[str, dict[str, Any]] = {}
    wanted = given(integrated_account_ids)
    if wanted is None or (isinstance(wanted, list) and not wanted):
        account_ids = [hook.account_id(given(integrated_account_id))]
        several = False
    else:
        account_ids, set_aside = resolve_accounts(hook, wanted)
        accounts.update(set_aside)
        several = True
    check_policy_accounts(policies, selected=account_ids, known=[*account_ids, *accounts])
    for account, account_policy in sorted(policies.items()):
        log.info("Account %s has its own policy: %s", account, account_policy.to_kwargs())

    def select(account: str) -> tuple[str, list[ChannelRef] | TrutoError, Counter[str]]:
        rules = policies.get(account, base)
        left_out: Counter[str] = Counter()
        try:
            channels = hook.list_channels(
                account, limit=DEFAULT_CHANNELS_PER_PAGE, **channel_list_query(rules)
            )
            selected = select_auto_join(channels, cutoff, left_out, rules, warn_to=log)
        except TrutoError as error:
            if not several or not is_account_wide(error):
                raise
            return account, error, left_out
        log.info(
            "Account %s: %d new public channels to join; left out: %s",
            account,
            len(selected),
            describe_left_out(left_out),
        )
        return account, selected, left_out

    with ThreadPoolExecutor(max_workers=max(1, min(accounts_at_once, len(account_ids)))) as pool:
        results = list(pool.map(select, account_ids))

    selected: list[ChannelRef] = []
    for account, result, left_out in results:
        if isinstance(result, TrutoError):
            accounts[account] = {"selected": 0, "error": str(result)}
            continue
        accounts[account] = {
            "selected": len(result),
            "first": [ref["name"] for ref in result[:FIRST_NAMES]],
            "left_out": dict(sorted(left_out.items())),
            "error": None,
        }
        selected.extend({**ref, "integrated_account_id": account} for ref in result)
    if dry_run:
        log.info("Dry run: %d channels would be joined; no join task is planned", len(selected))
        return AutoJoinPlan(batches=[], accounts=accounts, dry_run=True)
    batches = plan_batches(selected, max_tasks=max_tasks, accounts_per_task=accounts_at_once)
    return AutoJoinPlan(batches=batches, accounts=accounts)


def check_policy_accounts(
    policies: Mapping[str, AutoJoinPolicy], *, selected: Sequence[str], known: Iterable[str]
) -> None:
    """Refuse a policy for an account the run does not select (a typo would silently apply none).

    ``known`` also holds accounts that ``"all"`` found but left out for now (say, one needing re-auth):
    their policy is kept for the day they are back, not an error that would stop every other account.
    """
    strangers = sorted(set(policies) - set(known))
    if strangers:
        shown = ", ".join(list(selected)[:5]) + (" ..." if len(selected) > 5 else "")
        raise TrutoInputError(
            "account_policies",
            f"has a policy for {', '.join(strangers)}, which this run does not select "
            f"(selected: {shown or 'none'})",
        )


def resolve_accounts(
    hook: TrutoReader, wanted: str | Sequence[str]
) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """The account ids to work on, and the accounts discovery left out (with why).

    ``"all"``: every account of the token's environment that is active, not a read-only sandbox, and
    on an integration that can join. A list is taken as given (duplicates dropped).
    """
    if isinstance(wanted, str):
        if wanted.strip().lower() != ALL_ACCOUNTS:
            raise TrutoInputError("integrated_account_ids", f'must be a list of ids or "all", got {wanted!r}')
        return discover_joinable_accounts(hook.list_integrated_accounts(limit=ACCOUNTS_PAGE_SIZE))
    if not isinstance(wanted, Sequence) or not all(isinstance(a, str) and a.strip() for a in wanted):
        raise TrutoInputError("integrated_account_ids", "must be a list of non-blank account ids")
    return list(dict.fromkeys(wanted)), {}


def discover_joinable_accounts(
    accounts: Iterable[Mapping[str, Any]],
) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """Split listed accounts into those to work on and those left out, with the reason."""
    chosen: list[str] = []
    left_out: dict[str, dict[str, Any]] = {}
    for account in accounts:
        account_id = str(account.get("id"))
        integration = account.get("integration") or {}
        name = integration.get("name") if isinstance(integration, Mapping) else integration
        if account.get("status") != "active":
            reason = f"status is {account.get('status')}"
        elif account.get("is_sandbox"):
            reason = "sandbox accounts are read-only"
        elif name not in JOINABLE_INTEGRATIONS:
            reason = f"integration {name} cannot join channels"
        else:
            chosen.append(account_id)
            continue
        left_out[account_id] = {"selected": 0, "error": f"left out: {reason}"}
    return chosen, left_out


def plan_batches(
    channels: Sequence[ChannelRef], *, max_tasks: int, accounts_per_task: int = 16, batch_size: int = 250
) -> list[list[ChannelRef]]:
    """Cut a selection into at most ``max_tasks`` mapped tasks.

    Up to ``max_tasks`` channels get one task each (one line per channel in the grid). More channels of
    one account go in even batches of about ``batch_size`` (more when ``max_tasks`` would be exceeded):
    one account's joins are paced by its own rate limit, so running them in parallel gains nothing, and
    a first run over thousands of channels pays the per-task overhead a few times, not thousands, far
    below ``max_map_length``.
    Channels of many accounts are grouped by account, about ``accounts_per_task`` accounts to a task, so
    each task can work its accounts in parallel (each account is limited on its own, the token on top).
    """
    if max_tasks < 1:
        raise TrutoInputError("max_tasks", f"must be at least 1, got {max_tasks}")
    if accounts_per_task < 1:
        raise TrutoInputError("accounts_per_task", f"must be at least 1, got {accounts_per_task}")
    if len(channels) <= max_tasks:
        return [[channel] for channel in channels]
    by_account: dict[str | None, list[ChannelRef]] = {}
    for channel in channels:
        by_account.setdefault(channel.get("integrated_account_id"), []).append(channel)
    if len(by_account) == 1:
        size = math.ceil(len(channels) / min(max_tasks, math.ceil(len(channels) / batch_size)))
        return [list(channels[start : start + size]) for start in range(0, len(channels), size)]
    tasks: list[list[ChannelRef]] = [
        [] for _ in range(min(max_tasks, math.ceil(len(by_account) / accounts_per_task)))
    ]
    # Largest accounts first, each to the task with the fewest channels so far: tasks end close together.
    for account_channels in sorted(by_account.values(), key=len, reverse=True):
        min(tasks, key=len).extend(account_channels)
    return tasks


def batch_label(batch: Sequence[Mapping[str, Any]]) -> str:
    """A mapped task's label: the channel's name, or the first name and how many more."""
    if not batch:
        return "no channels"
    first = str(batch[0].get("name") or batch[0].get("id"))
    return first if len(batch) == 1 else f"{first} +{len(batch) - 1} more"


def auto_join_cutoff(
    created_after: Any, last_success_start: datetime | None, overlap: timedelta
) -> datetime | None:
    """The creation time after which a channel counts as new.

    An explicit ``created_after`` wins. Otherwise: the start of the last successful run, less a generous
    overlap (clock skew, channels created while that run was listing). A data interval is no safe
    cutoff: in Airflow 3 an ``@hourly`` cron schedule has a zero-length one, and failed runs leave gaps.
    With no successful run yet, every channel is new (``None``).
    """
    if given(created_after) is not None:
        return parse_timestamp(created_after)
    if last_success_start is None:
        return None
    return parse_timestamp(last_success_start, "last_success_start") - overlap
