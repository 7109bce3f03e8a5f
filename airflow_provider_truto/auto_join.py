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

log = logging.getLogger(__name__)

ALL_ACCOUNTS = "all"
JOINABLE_INTEGRATIONS = frozenset({"slack"})  # of Truto's messaging integrations, only Slack can join
LIST_PAGE_SIZE = 200


@dataclass
class AutoJoinPlan:
    """The mapped batches, and per account: how many channels were selected, or why it was left out."""

    batches: list[list[ChannelRef]]
    accounts: dict[str, dict[str, Any]]


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
) -> AutoJoinPlan:
    """List each account's channels (every page), select the new public ones, cut them into batches.

    One account: any failure fails the task. Several accounts: an account that cannot be listed for
    good (needs re-auth, blocked, missing scope, gone) is reported with its reason and left out, and the
    others go on; a transient failure still fails the task, so the run is retried.
    """
    from airflow_provider_truto.hooks.truto import TrutoHook

    hook = TrutoHook(truto_conn_id)
    cutoff = auto_join_cutoff(created_after, last_success_start, overlap)
    log.info("Joining channels created after %s", cutoff.isoformat() if cutoff else "any time (first run)")
    accounts: dict[str, dict[str, Any]] = {}
    if integrated_account_ids in (None, "", []):
        account_ids = [hook.client.account_id(integrated_account_id or None)]
        several = False
    else:
        account_ids, left_out = resolve_accounts(hook, integrated_account_ids)
        accounts.update(left_out)
        several = True

    def select(account: str) -> tuple[str, list[ChannelRef] | TrutoError]:
        try:
            left_out: Counter[str] = Counter()
            selected = select_auto_join(hook.list_channels(account, limit=LIST_PAGE_SIZE), cutoff, left_out)
            log.info(
                "Account %s: %d new public channels to join; left out: %s",
                account,
                len(selected),
                ", ".join(f"{count} {reason}" for reason, count in sorted(left_out.items())) or "none",
            )
            return account, selected
        except (TrutoAuthError, TrutoAccountBlockedError, TrutoNotFoundError) as error:
            if not several:
                raise
            return account, error

    with ThreadPoolExecutor(max_workers=max(1, min(accounts_at_once, len(account_ids)))) as pool:
        results = list(pool.map(select, account_ids))

    selected: list[ChannelRef] = []
    for account, result in results:
        if isinstance(result, TrutoError):
            accounts[account] = {"selected": 0, "error": str(result)}
            continue
        accounts[account] = {"selected": len(result), "error": None}
        selected.extend({**ref, "integrated_account_id": account} for ref in result)
    hook.close()
    batches = plan_batches(selected, max_tasks=max_tasks, accounts_per_task=accounts_at_once)
    return AutoJoinPlan(batches=batches, accounts=accounts)


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
    """What one auto-join run did, overall and per account."""

    joined: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    failed: list[dict[str, Any]] = field(default_factory=list)
    per_account: dict[str, Counter[str]] = field(default_factory=dict)
    account_errors: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "joined": self.joined,
            "skipped": sum(self.skipped.values()),
            "skipped_reasons": dict(self.skipped),
            "failed": len(self.failed),
            "failed_channels": self.failed[:100],
            "accounts": {account: dict(counts) for account, counts in sorted(self.per_account.items())},
            "account_errors": dict(sorted(self.account_errors.items())),
        }

    def lines(self) -> list[str]:
        reasons = ", ".join(f"{reason}: {count}" for reason, count in sorted(self.skipped.items())) or "none"
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
) -> AutoJoinSummary:
    """Match the planned channels against the mapped joins' outcomes.

    A mapped task that failed leaves no outcome; its channels count as failed, never as joined. No plan
    at all means the selection itself failed, which must fail the run too.
    """
    if batches is None:
        raise TrutoError("the channel selection did not finish, so nothing was joined; see its log")
    summary = AutoJoinSummary()
    for account, facts in accounts.items():
        summary.per_account.setdefault(account, Counter())
        if facts.get("error"):
            summary.account_errors[account] = str(facts["error"])
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
