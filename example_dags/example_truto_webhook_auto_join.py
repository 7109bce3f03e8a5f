"""Auto-join a workspace's public channels as soon as a customer connects it: Truto's webhook, no polling.

Truto posts ``integrated_account:created`` (``:active``, ``:reactivated``) to the provider's receiver on
Airflow's api-server (``POST /truto/webhooks/<conn_id>``, see docs/webhooks.md). The receiver verifies the
signature and records an asset event on ``truto_webhook_workspace_connected`` for a Slack account that can
join; that asset event runs this DAG. It plans the auto-join of every workspace in the run's events (all
existing public, active channels the bot is not in, that the policy allows), joins them in batches with
``JoinChannelOperator(channel_ids=..., max_concurrency=...)``, and reports, like the hourly auto-join.

Policy (params, see docs/auto-join.md): ``include`` / ``exclude`` globs on the channel name (``exclude``
wins; none: every name), ``include_shared`` also joins channels shared with other organisations. An
asset-triggered run takes the defaults written here: edit them to change the policy. The hourly
``example_truto_auto_join_channels`` stays the safety net for anything a webhook misses.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Asset, Param, dag, get_current_context, task

from airflow_provider_truto.operators.instant_messaging import JoinChannelOperator
from airflow_provider_truto.webhooks.events import WORKSPACE_CONNECTED_ASSET

TRUTO_POOL = os.environ.get("TRUTO_POOL") or "default_pool"
MAX_JOIN_TASKS = 16  # a new workspace's channels are batched: one account's joins are paced by its limit
JOIN_TASKS_AT_ONCE = 4
ACCOUNTS_AT_ONCE = 16  # workspaces joined in parallel within one batch task
JOIN_RETRY_DELAY = timedelta(seconds=float(os.environ.get("TRUTO_JOIN_RETRY_DELAY_SECONDS") or 60))

workspace_connected = Asset(WORKSPACE_CONNECTED_ASSET)


@dag(
    dag_id="example_truto_webhook_auto_join",
    schedule=[workspace_connected],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    # One run at a time: Truto sends :created and then :active for one workspace; the second run lists
    # after the first has joined, so it finds the channels joined and sends nothing again.
    max_active_runs=1,
    tags=["truto", "example", "webhook"],
    params={
        "include": Param(
            None, type=["null", "string", "array"], description="Globs on the channel name to join."
        ),
        "exclude": Param(
            None, type=["null", "string", "array"], description="Globs never to join; they win."
        ),
        "include_shared": Param(False, type="boolean", description="Also join channels shared outside."),
    },
    doc_md=__doc__,
)
def example_truto_webhook_auto_join() -> None:
    @task
    def plan_joins(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        """The batches to join for every workspace the triggering events connected."""
        from airflow_provider_truto.auto_join.policy import AutoJoinPolicy
        from airflow_provider_truto.auto_join.webhook_events import plan_workspace_joins
        from airflow_provider_truto.hooks.truto import TrutoHook

        context = get_current_context()
        params = context["params"]
        policy = AutoJoinPolicy.build(
            params.get("include"), params.get("exclude"), params.get("include_shared")
        )
        events = triggering_asset_events[workspace_connected] if triggering_asset_events else []
        plan = plan_workspace_joins(
            events,
            hook_for=TrutoHook,
            policy=policy,
            max_tasks=MAX_JOIN_TASKS,
            accounts_at_once=ACCOUNTS_AT_ONCE,
        )
        context["ti"].xcom_push(key="accounts", value=plan.accounts)
        return plan.joins

    joins = plan_joins()
    joined = JoinChannelOperator.partial(
        task_id="join_channels",
        max_concurrency=ACCOUNTS_AT_ONCE,
        pool=TRUTO_POOL,
        max_active_tis_per_dagrun=JOIN_TASKS_AT_ONCE,
        retries=2,
        retry_delay=JOIN_RETRY_DELAY,
        map_index_template="{{ truto_channel_label }}",
    ).expand_kwargs(joins)

    @task(trigger_rule="all_done")
    def report(joins: list[dict[str, Any]], outcomes: list[list[dict[str, Any]]]) -> dict[str, Any]:
        """Joined / skipped / failed per workspace; fails the run if a join failed."""
        from airflow_provider_truto.auto_join.report import summarise

        context = get_current_context()
        accounts = context["ti"].xcom_pull(task_ids="plan_joins", key="accounts") or {}
        summary = summarise([item["channel_ids"] for item in joins or []], outcomes, accounts)
        for line in summary.lines():
            print(line)
        summary.raise_if_failed()
        return summary.as_dict()

    report(joins, joined.output)


example_truto_webhook_auto_join()
