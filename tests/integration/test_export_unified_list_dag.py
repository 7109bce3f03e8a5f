"""The export example, for lists too long for XCom: every item written once to storage, XCom small."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from airflow_provider_truto.testing import TrutoSandbox
from tests.support.helpers import ACCOUNT, REPO, connection_json, run_dag_test, token_leaks

pytestmark = pytest.mark.integration
EXAMPLE = "example_truto_export_unified_list.py"


def test_export_writes_every_item_once_and_passes_on_the_path(
    sandbox: TrutoSandbox, airflow_home: Path, tmp_path: Path
) -> None:
    sandbox.seed_channels(ACCOUNT, 390, seed=8)  # 450 channels: three pages of 200
    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(REPO / "example_dags" / EXAMPLE, dags / EXAMPLE)
    exports = tmp_path / "exports"
    done = run_dag_test(
        airflow_home,
        "example_truto_export_unified_list",
        conn=connection_json(sandbox),
        dags_folder=dags,
        TRUTO_EXPORT_BASE=f"file://{exports}",
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    (written,) = exports.rglob("*.jsonl")
    ids = [json.loads(line)["id"] for line in written.read_text().splitlines()]
    assert ids == [c["id"] for c in sandbox.channels(ACCOUNT)] and len(ids) == 450
    pages = [r for r in sandbox.requests if r.path == "/unified/instant-messaging/channels"]
    assert [r.query["limit"] for r in pages] == [["200"]] * 3
    assert token_leaks(output) == []
