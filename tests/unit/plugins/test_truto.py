"""The provider's Airflow plugin: registered by its entry point, found by Airflow's plugin manager, cheap to
import in every Airflow process, its FastAPI app built only when the api-server asks for it."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points

import pytest
from fastapi import FastAPI

from airflow_provider_truto.plugins.truto import URL_PREFIX, TrutoPlugin
from airflow_provider_truto.webhooks.app import WEBHOOK_ROUTE


def test_the_entry_point_names_the_plugin() -> None:
    [ours] = [
        e for e in entry_points(group="airflow.plugins") if e.value.startswith("airflow_provider_truto")
    ]
    assert ours.load() is TrutoPlugin
    assert TrutoPlugin.name == "truto"


def test_fastapi_apps_is_the_receiver_at_truto_one_app_per_process() -> None:
    [app] = TrutoPlugin().fastapi_apps
    assert app["url_prefix"] == URL_PREFIX == "/truto"
    assert isinstance(app["app"], FastAPI)
    assert [route.path for route in app["app"].routes] == [WEBHOOK_ROUTE]
    assert TrutoPlugin.fastapi_apps[0]["app"] is app["app"]  # read on the class too, the same app


def test_importing_the_plugin_adds_nothing_but_itself_to_airflow_s_plugin_base() -> None:
    """Every Airflow process that loads plugins imports the module: beyond the ``AirflowPlugin`` base it
    stands on (Airflow 3.0's own base brings FastAPI with it), it may load only itself."""
    code = """
import json, sys
try:  # the base the plugin module itself picks
    import airflow.sdk.plugins_manager
except ImportError:
    import airflow.plugins_manager
before = set(sys.modules)
import airflow_provider_truto.plugins.truto
print(json.dumps(sorted(set(sys.modules) - before)))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    added = json.loads(done.stdout.strip().splitlines()[-1])
    assert "airflow_provider_truto.plugins.truto" in added
    ours = {
        "airflow_provider_truto",
        "airflow_provider_truto.plugins",
        "airflow_provider_truto.plugins.truto",
    }
    assert set(added) <= ours, added


@pytest.mark.integration  # Airflow's own plugin manager, in a process of its own
def test_airflow_s_plugin_manager_mounts_it() -> None:
    code = """
import json
from airflow import plugins_manager
try:  # Airflow >= 3.1
    apps, _ = plugins_manager.get_fastapi_plugins()
except AttributeError:  # Airflow 3.0
    plugins_manager.initialize_fastapi_plugins()
    apps = plugins_manager.fastapi_apps
print(json.dumps([[a["name"], a["url_prefix"], type(a["app"]).__name__] for a in apps]))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert ["truto_webhooks", "/truto", "FastAPI"] in json.loads(done.stdout.strip().splitlines()[-1])
