"""The auto-join job's two ends: plan which channels to join, and sum up what happened.

Used by ``example_truto_auto_join_channels``; kept in the package so it is tested and reusable. The join
itself is ``JoinChannelOperator`` mapped over the planned batches.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from airflow_provider_truto.channels import ChannelRef, auto_join_cutoff, plan_batches, select_auto_join
from airflow_provider_truto.exceptions import (
    TrutoAccountBlockedError,
    TrutoAuthError,
    TrutoError,
    TrutoInputError,
    TrutoNotFoundError,
)
from airflow_provider_truto.policy import AutoJoinPolicy, parse_account_policies

log = logging.getLogger(__name__)

ALL_ACCOUNTS = "all"
JOINABLE_INTEGRATIONS = frozenset({"slack"})  # of Truto's messaging integrations, only Slack can join
LIST_PAGE_SIZE = 200
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


def plan_auto_join(
    truto_conn_id: str,
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

    ``policy`` (default: :class:`AutoJoinPolicy`'s defaults) applies to every account;
    ``account_policies`` maps an account id to its own ``include`` / ``exclude`` / ``include_shared``
    (keys it leaves out keep ``policy``'s). A policy for an account this run does not select is a
    :class:`TrutoInputError`, raised before any channel is listed. ``dry_run`` selects and reports but
    plans no join.

    One account: any failure fails the task. Several accounts: an account that cannot be listed for
    good (needs re-auth, blocked, missing scope, gone) is reported with its reason and left out, and the
    others go on; a transient failure still fails the task, so the run is retried.
    """
    from airflow_provider_truto.hooks.truto import TrutoHook

    base = policy if policy is not None else AutoJoinPolicy()
    policies = parse_account_policies(account_policies, base)
    if not isinstance(dry_run, bool):
        raise TrutoInputError("dry_run", f"must be true or false, got {dry_run!r}")
    hook = TrutoHook(truto_conn_id)
    cutoff = auto_join_cutoff(created_after, last_success_start, overlap)
    log.info("Joining channels created after %s", cutoff.isoformat() if cutoff else "any time (first run)")
    accounts: dict[str, dict[str, Any]] = {}
    if integrated_account_ids in (None, "", []):
        account_ids = [hook.account_id(integrated_account_id or None)]
        several = False
    else:
        account_ids, set_aside = resolve_accounts(hook, integrated_account_ids)
        accounts.update(set_aside)
        several = True
    check_policy_accounts(policies, selected=account_ids, known=[*account_ids, *accounts])
    for account, account_policy in sorted(policies.items()):
        log.info("Account %s has its own policy: %s", account, account_policy.to_kwargs())

    def select(account: str) -> tuple[str, list[ChannelRef] | TrutoError, Counter[str]]:
        rules = policies.get(account, base)
        left_out: Counter[str] = Counter()
        # Without remote_data no sharing can be read: only a policy that ignores sharing may drop it.
        options = {} if rules.needs_remote_data else {"truto_ignore_remote_data": True}
        try:
            channels = hook.list_channels(account, limit=LIST_PAGE_SIZE, **options)
            selected = select_auto_join(channels, cutoff, left_out, rules)
        except (TrutoAuthError, TrutoAccountBlockedError, TrutoNotFoundError) as error:
            if not several:
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
    hook.close()
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


def describe_left_out(left_out: Mapping[str, int]) -> str:
    """``12 excluded by name, 3 shared with other organisations, ...``: the largest count first."""
    ordered = sorted(left_out.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{count} {reason}" for reason, count in ordered if count) or "none"


def resolve_accounts(hook: Any, wanted: str | Sequence[str]) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """The account ids to work on, and the accounts discovery left out (with why).

    ``"all"``: every account of the token's environment that is active, not a read-only sandbox, and
    on an integration that can join. A list is taken as given (duplicates dropped).
    """
    if isinstance(wanted, str):
        if wanted.strip().lower() != ALL_ACCOUNTS:
            raise TrutoInputError("integrated_account_ids", f'must be a list of ids or "all", got {wanted!r}')
        return discover_joinable_accounts(hook.list_integrated_accounts(limit=LIST_PAGE_SIZE))
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


@dataclass
class AutoJoinSummary:
    """What one auto-join run did (or, in a dry run, would do), overall and per account."""

    joined: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    failed: list[dict[str, Any]] = field(default_factory=list)
    per_account: dict[str, Counter[str]] = field(default_factory=dict)
    account_errors: dict[str, str] = field(default_factory=dict)
    dry_run: bool = False
    # What the selection found per account: {"selected": n, "first": [names], "left_out": {reason: n}}.
    selection: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def selected(self) -> int:
        return sum(int(facts["selected"]) for facts in self.selection.values())

    @property
    def left_out(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for facts in self.selection.values():
            total.update(facts["left_out"])
        return total

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "selected": self.selected,
            "left_out": dict(sorted(self.left_out.items())),
            "joined": self.joined,
            "skipped": sum(self.skipped.values()),
            "skipped_reasons": dict(self.skipped),
            "failed": len(self.failed),
            "failed_channels": self.failed[:100],
            "accounts": {account: dict(counts) for account, counts in sorted(self.per_account.items())},
            "account_errors": dict(sorted(self.account_errors.items())),
            "selection": dict(sorted(self.selection.items())),
        }

    def lines(self) -> list[str]:
        if self.dry_run:
            lines = [f"Auto-join (dry run): would join {self.selected} channels; no join request was sent"]
            for account, facts in sorted(self.selection.items()):
                names = ", ".join(facts["first"])
                more = facts["selected"] - len(facts["first"])
                lines.append(
                    f"  account {account}: would join {facts['selected']}"
                    + (f": {names}" if names else "")
                    + (f" (+{more} more)" if more > 0 else "")
                )
        else:
            reasons = (
                ", ".join(f"{reason}: {count}" for reason, count in sorted(self.skipped.items())) or "none"
            )
            lines = [
                f"Auto-join: joined {self.joined}, skipped {sum(self.skipped.values())} ({reasons}), "
                f"failed {len(self.failed)}"
            ]
            if len(self.per_account) > 1 or self.account_errors:
                for account, counts in sorted(self.per_account.items()):
                    lines.append(
                        f"  account {account}: joined {counts['joined']}, skipped {counts['skipped']}, "
                        f"failed {counts['failed']}"
                    )
        lines.extend(
            f"  account {account}: {error}" for account, error in sorted(self.account_errors.items())
        )
        lines.append(f"  left out: {describe_left_out(self.left_out)}")
        lines.extend(f"  failed: {c['name']} ({c['id']}): {c['reason']}" for c in self.failed[:20])
        return lines

    def raise_if_failed(self) -> None:
        if self.failed:
            raise TrutoError(
                f"{len(self.failed)} channels were not joined; the next run tries them again "
                f"(first: {self.failed[0]['name']}: {self.failed[0]['reason']})"
            )


def summarise(
    batches: Sequence[Sequence[Mapping[str, Any]]] | None,
    outcomes: Iterable[Sequence[Mapping[str, Any]] | None] | None,
    accounts: Mapping[str, Mapping[str, Any]],
    *,
    dry_run: bool = False,
) -> AutoJoinSummary:
    """Match the planned channels against the mapped joins' outcomes.

    A mapped task that failed leaves no outcome; its channels count as failed, never as joined. No plan
    at all means the selection itself failed, which must fail the run too. ``accounts`` is the plan's
    per-account facts: what was selected and what each rule left out.
    """
    if batches is None:
        raise TrutoError("the channel selection did not finish, so nothing was joined; see its log")
    summary = AutoJoinSummary(dry_run=dry_run)
    for account, facts in accounts.items():
        summary.per_account.setdefault(account, Counter())
        if facts.get("error"):
            summary.account_errors[account] = str(facts["error"])
        else:
            summary.selection[account] = {
                "selected": int(facts.get("selected") or 0),
                "first": [str(name) for name in facts.get("first") or []],
                "left_out": {str(k): int(v) for k, v in (facts.get("left_out") or {}).items()},
            }
    seen: dict[tuple[str, str], Mapping[str, Any]] = {}
    for batch_outcomes in outcomes or []:
        for done in batch_outcomes or []:
            seen[(str(done.get("integrated_account_id")), str(done["id"]))] = done
    for batch in batches or []:
        for channel in batch:
            account = str(channel.get("integrated_account_id"))
            counts = summary.per_account.setdefault(account, Counter())
            outcome = seen.get((account, str(channel["id"])))
            result = outcome["outcome"] if outcome else "failed"
            counts[result] += 1
            if result == "joined":
                summary.joined += 1
            elif result == "skipped":
                summary.skipped[str(outcome["reason"] if outcome else "")] += 1
            else:
                reason = (
                    outcome["reason"]
                    if outcome
                    else "its join task failed (joined or not, the next run checks)"
                )
                summary.failed.append({"id": channel["id"], "name": channel.get("name"), "reason": reason})
    return summary
