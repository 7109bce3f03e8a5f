"""The auto-join job's last end: the planned channels matched against the joins' outcomes, as a report."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_truto.exceptions import TrutoError


def describe_left_out(left_out: Mapping[str, int]) -> str:
    """``12 excluded by name, 3 shared with other organisations, ...``: the largest count first."""
    ordered = sorted(left_out.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{count} {reason}" for reason, count in ordered if count) or "none"


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
