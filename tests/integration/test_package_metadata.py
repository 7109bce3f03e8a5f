"""The provider as Airflow's providers manager sees it: entry point, provider info, registered hook."""

from __future__ import annotations

import importlib
import json
import subprocess
from importlib.metadata import entry_points, version
from pathlib import Path
from typing import Any

import pytest

import airflow_provider_truto
from airflow_provider_truto.get_provider_info import get_provider_info
from tests.support.airflow_home import AIRFLOW, airflow_env
from tests.support.helpers import EXAMPLE_DAGS

pytestmark = pytest.mark.integration
PACKAGE = "airflow-provider-truto"


def provider_modules(info: dict[str, Any]) -> list[str]:
    modules = [
        module
        for kind in ("hooks", "operators", "sensors", "triggers")
        for item in info.get(kind, [])
        for module in item["python-modules"]
    ]
    return modules + [c["hook-class-name"].rpartition(".")[0] for c in info["connection-types"]]


def test_entry_point_is_get_provider_info() -> None:
    ours = [ep for ep in entry_points(group="apache_airflow_provider") if ep.dist and ep.dist.name == PACKAGE]
    assert len(ours) == 1
    assert ours[0].load() is get_provider_info


def test_versions_agree() -> None:
    info = get_provider_info()
    assert info["package-name"] == PACKAGE
    assert info["versions"][0] == airflow_provider_truto.__version__ == version(PACKAGE)


def test_every_named_module_and_class_exists() -> None:
    info = get_provider_info()
    for module in provider_modules(info):
        importlib.import_module(module)
    (connection,) = info["connection-types"]
    module, _, name = connection["hook-class-name"].rpartition(".")
    hook = getattr(importlib.import_module(module), name)
    assert (hook.conn_type, hook.hook_name) == (connection["connection-type"], connection["hook-name"])
    assert (hook.conn_name_attr, hook.default_conn_name) == ("truto_conn_id", "truto_default")


def airflow_json(home: Path, *command: str) -> Any:
    done = subprocess.run(
        [str(AIRFLOW), *command, "-o", "json"],
        env=airflow_env(home, dags_folder=EXAMPLE_DAGS),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    # Some Airflow releases log to stdout before the JSON (alembic plugin set-up on 3.0): take the JSON line.
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(("[{", "[]")):
            return json.loads(line)
    raise AssertionError(f"no JSON in the output of airflow {' '.join(command)}:\n{done.stdout}")


def test_airflow_cli_lists_the_provider_and_its_connection_type(airflow_home: Path) -> None:
    providers = {p["package_name"]: p for p in airflow_json(airflow_home, "providers", "list")}
    assert providers[PACKAGE]["version"] == airflow_provider_truto.__version__
    hooks = {h["connection_type"]: h for h in airflow_json(airflow_home, "providers", "hooks")}
    assert hooks["truto"] == {
        "connection_type": "truto",
        "class": "airflow_provider_truto.hooks.truto.TrutoHook",
        "conn_id_attribute_name": "truto_conn_id",
        "package_name": PACKAGE,
        "hook_name": "Truto",
    }
