"""Which channels the auto-join bot joins, and when: the auto-join job's rules, apart from Airflow.

``timestamps`` (creation times), ``selection`` (the one rule for a new public channel), ``policy`` (names
and sharing), ``watermark`` (a watch's new channels across polls), ``defaults`` (a watch's defaults),
``planning`` (accounts, selection and batches of the scheduled job), ``outcomes`` (what a failed join
means), ``report`` (what a run did) and ``events`` (a watch's asset events, read in the DAG they trigger).
No module here imports Airflow or an HTTP library: planning reads Truto through the hook it is handed.
Kept import-free, so the sensor and the examples load only the modules they read when a DAG is parsed.
"""
