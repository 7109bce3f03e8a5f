"""The auto-join report (airflow_provider_truto/auto_join/report.py): planned channels matched against the
joins' outcomes, what each rule left out, failures that fail the run."""

from __future__ import annotations

import json

import pytest

from airflow_provider_truto.auto_join.policy import (
    SHARED_EXTERNALLY,
)
from airflow_provider_truto.auto_join.report import summarise
from airflow_provider_truto.exceptions import TrutoError
from tests.support.helpers import channel_refs


def test_the_report_counts_what_each_rule_left_out_largest_first() -> None:
    reasons = {"excluded by name": 12, "created before the cutoff": 230, SHARED_EXTERNALLY: 3}
    facts = {
        "A": {"selected": 12, "first": [f"eng-{i}" for i in range(10)], "error": None, "left_out": reasons},
        "B": {"selected": 0, "first": [], "error": None, "left_out": {"excluded by name": 1}},
        "C": {"selected": 0, "error": "left out: status is needs_reauth"},
    }
    dry = summarise([], None, facts, dry_run=True)
    assert dry.lines() == [
        "Auto-join (dry run): would join 12 channels; no join request was sent",
        "  account A: would join 12: " + ", ".join(f"eng-{i}" for i in range(10)) + " (+2 more)",
        "  account B: would join 0",
        "  account C: left out: status is needs_reauth",
        "  left out: 230 created before the cutoff, 13 excluded by name, 3 shared with other organisations",
    ]
    report = dry.as_dict()
    assert report["dry_run"] is True and report["selected"] == 12 and report["joined"] == 0
    assert report["left_out"] == {
        "created before the cutoff": 230,
        "excluded by name": 13,
        "shared with other organisations": 3,
    }
    assert report["selection"]["A"]["first"][0] == "eng-0" and "C" not in report["selection"]
    json.dumps(report)

    batch = [{"id": "C1", "name": "eng-0", "integrated_account_id": "A"}]
    outcome = [{"id": "C1", "integrated_account_id": "A", "outcome": "joined"}]
    real = summarise([batch], [outcome], {"A": facts["A"]})
    assert real.as_dict()["dry_run"] is False
    assert real.lines()[0] == "Auto-join: joined 1, skipped 0 (none), failed 0"
    assert (
        "  left out: 230 created before the cutoff, 12 excluded by name, 3 shared with other organisations"
        in real.lines()
    )


def test_summary_counts_and_failures() -> None:
    batches = [channel_refs(3, "A"), channel_refs(2, "B")]
    outcomes = [
        [
            {**batches[0][0], "outcome": "joined", "reason": None},
            {**batches[0][1], "outcome": "skipped", "reason": "is_archived"},
            {**batches[0][2], "outcome": "joined", "reason": None},
        ],
        None,  # the second mapped task failed and left no outcome
    ]
    accounts = {"A": {"selected": 3, "error": None}, "C": {"error": "needs re-auth"}}
    summary = summarise(batches, outcomes, accounts)
    report = summary.as_dict()
    assert (report["joined"], report["skipped"], report["failed"]) == (2, 1, 2)
    assert report["skipped_reasons"] == {"is_archived": 1}
    assert report["accounts"]["B"] == {"failed": 2} and report["account_errors"] == {"C": "needs re-auth"}
    assert any("account C: needs re-auth" in line for line in summary.lines())
    with pytest.raises(TrutoError, match="2 channels were not joined"):
        summary.raise_if_failed()
    with pytest.raises(TrutoError, match="selection did not finish"):
        summarise(None, None, {})
