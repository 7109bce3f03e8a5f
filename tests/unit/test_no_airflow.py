"""The client, the pacing and the webhook receiver know no Airflow: they import and work with Airflow refused.

A subprocess installs an import hook that refuses every ``airflow`` module, imports each module of
``client/``, ``pacing/`` and ``webhooks/``, then calls the sandbox (which imports no Airflow either)
through both clients, meets a bad argument, and has a signed delivery received. Beside it, a static
check: no module of these packages imports Airflow.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import airflow_provider_truto
from tests.support.helpers import REPO

PACKAGE = Path(airflow_provider_truto.__file__).parent
AIRFLOW_FREE = ("client", "pacing", "webhooks")

PROBE = r"""
import asyncio, importlib, json, pkgutil, sys


class RefuseAirflow:
    def find_spec(self, name, path=None, target=None):
        if name == "airflow" or name.startswith("airflow."):
            raise ModuleNotFoundError(f"No module named {name!r} (refused by the test)", name=name)
        return None


sys.meta_path.insert(0, RefuseAirflow())

imported = []
for package in ("client", "pacing", "webhooks"):
    root = importlib.import_module(f"airflow_provider_truto.{package}")
    for module in pkgutil.iter_modules(root.__path__):
        importlib.import_module(f"{root.__name__}.{module.name}")
        imported.append(f"{package}.{module.name}")

from airflow_provider_truto.client.async_client import AsyncTrutoClient
from airflow_provider_truto.client.config import TrutoConfig
from airflow_provider_truto.client.sync_client import TrutoClient
from airflow_provider_truto.exceptions import AirflowFailException, TrutoInputError
from airflow_provider_truto.pacing.limits import RateLimit
from airflow_provider_truto.testing import TrutoSandbox
from airflow_provider_truto.webhooks.receiver import Receiver
from airflow_provider_truto.webhooks.signature import sign

with TrutoSandbox(token="tok-no-airflow-0123") as sandbox:
    sandbox.add_account("A")
    sandbox.seed_channels("A", 5, seed=1)
    config = TrutoConfig(
        token=sandbox.token, base_url=sandbox.url, integrated_account_id="A",
        account_rate_limit=RateLimit(50, 10.0),
    )
    with TrutoClient(config) as client:
        listed = [c["id"] for c in client.list_unified("instant-messaging", "channels", limit=2)]
        try:
            client.unified("instant-messaging", "channels", "get", resource_id="..")
        except TrutoInputError as error:
            refused = error.argument

    async def async_listed():
        async with AsyncTrutoClient(config) as client:
            return [c["id"] async for c in client.list_unified("instant-messaging", "channels")]

    class Store:
        def record_once(self, action, *, event_id, seen_for):
            return f"recorded on {action.asset}"

    receiver = Receiver(secret_of=lambda conn_id: "whsec-no-airflow", store=Store())
    body = json.dumps({"id": "e1", "event": "integrated_account:created", "payload": {"id": "A"},
                       "created_at": __import__("datetime").datetime.now().astimezone().isoformat()}).encode()
    answer = receiver.receive("truto_default", body, sign("whsec-no-airflow", body))

    print(json.dumps({
        "webhook": [answer.status, answer.body.get("status")],
        "imported": imported,
        "listed": listed,
        "async_listed": asyncio.run(async_listed()),
        "expected": [c["id"] for c in sandbox.channels("A")],
        "refused": refused,
        "permanent": issubclass(TrutoInputError, AirflowFailException),
        "airflow_loaded": sorted(m for m in sys.modules if m == "airflow" or m.startswith("airflow.")),
    }))
"""


def test_the_client_and_the_pacing_work_with_airflow_refused(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "TRUTO_RATE_LIMIT_DIR": str(tmp_path), "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    modules = {
        f"{p}.{m.stem}" for p in AIRFLOW_FREE for m in (PACKAGE / p).glob("*.py") if m.stem != "__init__"
    }
    assert set(result["imported"]) == modules
    assert result["listed"] == result["async_listed"] == result["expected"] and len(result["expected"]) == 5
    assert result["refused"] == "resource_id" and result["permanent"]
    assert result["webhook"] == [200, "recorded on truto_webhook_workspace_connected"]
    assert result["airflow_loaded"] == []


def airflow_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        found += [n for n in names if n == "airflow" or n.startswith("airflow.")]
    return found


@pytest.mark.parametrize("package", AIRFLOW_FREE)
def test_no_module_of_the_package_imports_airflow(package: str) -> None:
    modules = sorted((PACKAGE / package).glob("*.py"))
    assert len(modules) > 3
    assert {m.relative_to(REPO).as_posix(): airflow_imports(m) for m in modules} == {
        m.relative_to(REPO).as_posix(): [] for m in modules
    }


def test_the_static_check_sees_an_airflow_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os\nif True:\n    from airflow.sdk import BaseHook\nimport airflow_provider_truto\n"
    )
    assert airflow_imports(sample) == ["airflow.sdk"]
