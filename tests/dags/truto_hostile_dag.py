"""A DAG the hostile-server tests run with ``airflow dags test`` against a server that echoes the token.

Each task meets one hostile behaviour; none may put the token in its output, its log or XCom. The
connections come from the test's environment: ``truto_hostile`` and ``truto_newline`` (a token pasted
with a trailing newline).
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag

from airflow_provider_truto.operators.instant_messaging import JoinChannelOperator
from airflow_provider_truto.operators.unified import TrutoUnifiedApiOperator


@dag(dag_id="truto_hostile_test", schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def truto_hostile_test() -> None:
    # A 200 whose answer holds the token, \u-escaped and raw: the result reaches XCom with *** instead.
    JoinChannelOperator(task_id="echo_in_answer", channel_id="ECHO200", truto_conn_id="truto_hostile")
    TrutoUnifiedApiOperator(
        task_id="echo_in_list", model="instant-messaging", resource="channels", truto_conn_id="truto_hostile"
    )
    # A 401 whose message holds the token \u-escaped: the task fails, its error is redacted.
    JoinChannelOperator(task_id="echo_in_error", channel_id="ECHO401", truto_conn_id="truto_hostile")
    # A redirect whose Location carries the token to a dead host: an error naming it, redacted.
    JoinChannelOperator(task_id="redirect", channel_id="REDIRECT", truto_conn_id="truto_hostile")
    # A token pasted with a trailing newline: stripped, and the join goes through.
    JoinChannelOperator(task_id="newline_token", channel_id="C1", truto_conn_id="truto_newline")


truto_hostile_test()
