"""The one idempotency-key scheme of the operators' writes: the same key for every try of one task
instance's call, a different key for anything else.

A key hashes the task instance's ids (DAG, run, task, map index) and the call's own parts (the account,
the channel or the unified call) as one JSON array, so no two different lists of parts can give the same
text (parts joined with a separator could: ``"a|b" + "c"`` and ``"a" + "b|c"``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

PREFIX = "airflow-truto-"


def task_idempotency_key(context: Mapping[str, Any], *parts: str | int | None) -> str:
    """The ``Idempotency-Key`` of this task instance's call with ``parts``, stable across its tries."""
    ti = context.get("ti")
    ids = [getattr(ti, name, None) for name in ("dag_id", "run_id", "task_id", "map_index")]
    digest = hashlib.sha256(json.dumps([*ids, *parts], separators=(",", ":")).encode()).hexdigest()
    return f"{PREFIX}{digest[:40]}"
