"""Keep a bot a member of every new public channel, in one connected workspace or in all of them.

Every hour: list the channels of each integrated account through Truto (every page), pick the public,
active channels the bot is not in that were created after the cutoff, and join them with
``JoinChannelOperator`` through dynamic task mapping. A final task reports what was joined, skipped
(and why) and failed, and what each rule left out.

Policy (params; see docs/auto-join.md): ``include`` / ``exclude`` are shell-style globs on the channel
name (``exclude`` wins; none means every name), ``include_shared`` also joins channels shared with other
organisations (Slack Connect), ``account_policies`` gives an account its own ``include`` / ``exclude`` /
``include_shared``. ``dry_run`` lists, selects and reports what would be joined, and joins nothing.

Scale: an everyday run (a few dozen new channels) maps one task per channel, each labelled with the
channel's name. A first run over a workspace with thousands of channels spreads them over at most
``MAX_JOIN_TASKS`` mapped tasks instead, which stays far below Airflow's ``max_map_length`` (1024) and pays
the per-task overhead a few dozen times rather than thousands. Truto's rate limits are kept by the hook's
shared pacing (see the README); concurrency is bounded by ``max_active_tis_per_dagrun`` and by the Airflow
pool named in ``TRUTO_POOL``, if you created one (``airflow pools set truto 4 "Truto API"``); the DAG
runs in ``default_pool`` when it is unset.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Param, dag, get_current_context, task

from airflow_provider_truto.operators.instant_messaging import JoinChannelOperator

TRUTO_CONN_ID = "truto_default"
TRUTO_POOL = os.environ.get("TRUTO_POOL") or "default_pool"
MAX_JOIN_TASKS = 64  # well under max_map_length; more channels than this are batched
JOIN_TASKS_AT_ONCE = 4  # mapped join tasks running at once in one DAG run
ACCOUNTS_AT_ONCE = 32  # accounts listed, and joined, in parallel within one task
JOIN_RETRY_DELAY = timedelta(seconds=float(os.environ.get("TRUTO_JOIN_RETRY_DELAY_SECONDS") or 60))


@dag(
    dag_id="example_truto_auto_join_channels",
    schedule="@hourly",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["truto", "example"],
    params={
        "integrated_account_id": Param(
            None,
            type=["null", "string"],
            description="The workspace to watch; empty means the connection's integrated_account_id.",
        ),
        "integrated_account_ids": Param(
            None,
            type=["null", "string", "array"],
            description='Several workspaces: a list of account ids, or "all" for every active Slack account.',
        ),
        "created_after": Param(
            None,
            type=["null", "string"],
            description="ISO-8601; empty means since the last successful run, less the overlap.",
        ),
        "overlap_minutes": Param(60, type="integer", minimum=0),
        # The policy params are checked by the selection task (AutoJoinPolicy), which names the bad one.
        "include": Param(
            None,
            type=["null", "string", "array"],
            description='Globs on the channel name to join, e.g. ["eng-*", "support-??"]; empty: every name.',
        ),
        "exclude": Param(
            None,
            type=["null", "string", "array"],
            description="Globs on the channel name never to join; they win over include.",
        ),
        "include_shared": Param(
            False,
            type="boolean",
            description="Also join channels shared with other organisations (Slack Connect).",
        ),
        "account_policies": Param(
            None,
            type=["null", "object"],
            description='Account id -> its own policy: {"<id>": {"include": [...], "include_shared": true}}.',
        ),
        "dry_run": Param(
            False,
            type="boolean",
            description="List, select and report what would be joined; send no join request.",
        ),
    },
    doc_md=__doc__,
)
def example_truto_auto_join_channels() -> None:
    @task
    def plan_joins() -> list[list[dict[str, Any]]]:
        """List every page of every account's channels and plan the joins (filtered here, not by Truto)."""
        from airflow_provider_truto.auto_join.planning import plan_auto_join
        from airflow_provider_truto.auto_join.policy import AutoJoinPolicy
        from airflow_provider_truto.hooks.truto import TrutoHook

        context = get_current_context()
        params = context["params"]
        policy = AutoJoinPolicy.build(
            include=params.get("include"),
            exclude=params.get("exclude"),
            include_shared=params.get("include_shared", False),
        )
        hook = TrutoHook(TRUTO_CONN_ID)
        plan = plan_auto_join(
            hook,
            integrated_account_id=params.get("integrated_account_id"),
            integrated_account_ids=params.get("integrated_account_ids"),
            created_after=params.get("created_after"),
            # A lazy proxy in Airflow 3: "or None" turns a missing one into a real None.
            last_success_start=context.get("prev_start_date_success") or None,
            overlap=timedelta(minutes=params.get("overlap_minutes") or 0),
            max_tasks=MAX_JOIN_TASKS,
            accounts_at_once=ACCOUNTS_AT_ONCE,
            policy=policy,
            account_policies=params.get("account_policies"),
            dry_run=params.get("dry_run", False),
        )
        hook.close()
        # Per-account facts travel under their own keys: only the batches are mapped over (none in a
        # dry run, so no join task exists to send a request).
        context["ti"].xcom_push(key="accounts", value=plan.accounts)
        context["ti"].xcom_push(key="dry_run", value=plan.dry_run)
        return plan.batches

    batches = plan_joins()

    joins = JoinChannelOperator.partial(
        task_id="join_channels",
        truto_conn_id=TRUTO_CONN_ID,
        max_concurrency=ACCOUNTS_AT_ONCE,
        pool=TRUTO_POOL,
        max_active_tis_per_dagrun=JOIN_TASKS_AT_ONCE,
        retries=2,
        retry_delay=JOIN_RETRY_DELAY,
        map_index_template="{{ truto_channel_label }}",
    ).expand(channel_ids=batches)

    # One XCom row under return_value and one under "report": a dict return would otherwise be split
    # into a row per key (Airflow infers multiple_outputs from the annotation).
    @task(trigger_rule="all_done", multiple_outputs=False)
    def report(batches: list[list[dict[str, Any]]], outcomes: list[list[dict[str, Any]]]) -> dict[str, Any]:
        """Count joined / skipped (with reasons) / failed and what each rule left out, per account too.

        Fails the run if a join failed. In a dry run: what would be joined (count, first names).
        """
        from airflow_provider_truto.auto_join.report import summarise

        context = get_current_context()
        accounts = context["ti"].xcom_pull(task_ids="plan_joins", key="accounts") or {}
        dry_run = bool(context["ti"].xcom_pull(task_ids="plan_joins", key="dry_run"))
        # Every mapped join's outcome in one request: iterating would ask for one item past the end,
        # which Airflow logs as an error ("XCom not found") in a run that went well.
        summary = summarise(batches, outcomes[:], accounts, dry_run=dry_run)
        for line in summary.lines():
            print(line)
        context["ti"].xcom_push(key="report", value=summary.as_dict())
        summary.raise_if_failed()
        return summary.as_dict()

    report(batches, joins.output)


example_truto_auto_join_channels()
