#!/usr/bin/env bash
# Check the package a user would install: build the sdist and the wheel, look inside them, install the
# wheel (not editable) into a clean venv with Airflow, and use it from outside the source tree.
#
#   scripts/check_package.sh
#
# AIRFLOW_VERSION (default 3.3.2) and PYTHON (default python3) can be overridden. Exits non-zero on the
# first failed check; the temporary directory is removed either way (KEEP=1 keeps it).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
AIRFLOW_VERSION=${AIRFLOW_VERSION:-3.3.2}
PYTHON=${PYTHON:-python3}
START=$SECONDS

work=$(mktemp -d "${TMPDIR:-/tmp}/truto-package-check.XXXXXX")
cleanup() { if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT

passed=0
step() { printf '[%4ss] %s\n' "$((SECONDS - START))" "$*"; }
ok() {
    passed=$((passed + 1))
    step "PASS $*"
}
fail() {
    echo "FAIL: $*" >&2
    echo "package: $passed passed, 1 failed"
    exit 1
}

# uv from the project venv (the Makefile installs it there), else from PATH; pip only to bootstrap uv.
if [ -x .venv/bin/python ] && .venv/bin/python -m uv --version >/dev/null 2>&1; then
    UV=(.venv/bin/python -m uv)
elif command -v uv >/dev/null 2>&1; then
    UV=(uv)
else
    "$PYTHON" -m venv "$work/uv" && "$work/uv/bin/python" -m pip install -q --disable-pip-version-check uv
    UV=("$work/uv/bin/python" -m uv)
fi

step "build sdist and wheel"
"${UV[@]}" build -q --out-dir "$work/dist" "$REPO" || fail "the build failed"
sdist=$(ls "$work"/dist/*.tar.gz)
wheel=$(ls "$work"/dist/*.whl)
version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' airflow_provider_truto/__init__.py)
[ "$(basename "$wheel")" = "airflow_provider_truto-$version-py3-none-any.whl" ] ||
    fail "unexpected wheel $(basename "$wheel") for version $version"
ok "built $(basename "$sdist") and $(basename "$wheel")"

sdist_files=$(tar -tzf "$sdist")
wheel_files=$("$PYTHON" -m zipfile -l "$wheel")
for path in airflow_provider_truto/__init__.py airflow_provider_truto/py.typed \
    airflow_provider_truto/get_provider_info.py airflow_provider_truto/hooks/truto.py \
    airflow_provider_truto/testing/__main__.py airflow_provider_truto/testing/pytest_plugin.py \
    airflow_provider_truto/client/sync_client.py airflow_provider_truto/pacing/budgets.py \
    airflow_provider_truto/auto_join/selection.py airflow_provider_truto/plugins/truto.py \
    airflow_provider_truto/webhooks/receiver.py airflow_provider_truto/testing/webhooks.py; do
    grep -q "/$path\$" <<<"$sdist_files" || fail "the sdist lacks $path"
    grep -q "^$path " <<<"$wheel_files" || fail "the wheel lacks $path"
done
# Development tooling (tests/support: the Airflow-home helper, the hostile servers) stays out of the wheel.
if grep -q "^tests/\|airflow_home" <<<"$wheel_files"; then fail "the wheel holds development tooling"; fi
grep -q "/pyproject.toml\$" <<<"$sdist_files" || fail "the sdist lacks pyproject.toml"
grep -q "^airflow_provider_truto-[^/]*/LICENSE\$" <<<"$sdist_files" || fail "the sdist lacks LICENSE"
grep -q "\.dist-info/licenses/LICENSE " <<<"$wheel_files" || fail "the wheel lacks LICENSE"
entry_points=$("$PYTHON" -c 'import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
print(z.read(next(n for n in z.namelist() if n.endswith(".dist-info/entry_points.txt"))).decode())' "$wheel")
grep -q "^provider_info = airflow_provider_truto.get_provider_info:get_provider_info" <<<"$entry_points" ||
    fail "the wheel has no apache_airflow_provider entry point"
grep -q "^truto = airflow_provider_truto.testing.pytest_plugin" <<<"$entry_points" ||
    fail "the wheel has no pytest11 entry point"
grep -q "^truto = airflow_provider_truto.plugins.truto:TrutoPlugin" <<<"$entry_points" ||
    fail "the wheel has no airflow.plugins entry point"
metadata=$("$PYTHON" -c 'import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
print(z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode())' "$wheel")
grep -qx "License-Expression: Apache-2.0" <<<"$metadata" || fail "the wheel's METADATA has no License-Expression: Apache-2.0"
grep -qx "License-File: LICENSE" <<<"$metadata" || fail "the wheel's METADATA names no License-File"
for dependency in apache-airflow asgiref fastapi httpx requests sqlalchemy tenacity wtforms; do
    grep -q "^Requires-Dist: $dependency\b" <<<"$metadata" || fail "the wheel does not require $dependency"
done
ok "sdist and wheel hold the package, py.typed, LICENSE and the three entry points; SPDX license; dependencies"

step "clean venv: the wheel + apache-airflow==$AIRFLOW_VERSION + pytest"
"$PYTHON" -m venv "$work/venv"
"${UV[@]}" pip install -q -p "$work/venv/bin/python" "$wheel" "apache-airflow==$AIRFLOW_VERSION" pytest ||
    fail "installing the wheel failed"
bin=$work/venv/bin

# From outside the source tree, with a fresh AIRFLOW_HOME and none of the caller's Airflow settings.
mkdir "$work/outside"
cd "$work/outside"
run() { env -u AIRFLOW_CONN_TRUTO_DEFAULT AIRFLOW_HOME="$work/home" AIRFLOW__CORE__LOAD_EXAMPLES=False "$@"; }

location=$(run "$bin/python" -c 'import airflow_provider_truto.testing, airflow_provider_truto as p; print(p.__file__)')
case "$location" in
    "$work/venv/"*) ;;
    *) fail "airflow_provider_truto was imported from $location, not from the installed wheel" ;;
esac
run "$bin/python" - <<'EOF' || fail "a module named in get_provider_info does not import"
import importlib
from importlib.metadata import entry_points, version

(ep,) = [e for e in entry_points(group="apache_airflow_provider") if e.value.startswith("airflow_provider_truto")]
info = ep.load()()
assert info["package-name"] == "airflow-provider-truto", info["package-name"]
assert info["versions"][0] == version("airflow-provider-truto"), (info["versions"], version("airflow-provider-truto"))
modules = [m for key in ("hooks", "operators", "sensors", "triggers") for item in info.get(key, []) for m in item["python-modules"]]
modules += [c["hook-class-name"].rpartition(".")[0] for c in info["connection-types"]]
for module in modules:
    importlib.import_module(module)
print(f"{len(modules)} modules named in get_provider_info import")
EOF
ok "imports come from the wheel; every module named in get_provider_info imports"

# JSON output: the tables' columns change between Airflow releases.
run "$bin/airflow" providers list -o json >"$work/providers.json" 2>/dev/null || fail "airflow providers list failed"
run "$bin/airflow" providers hooks -o json >"$work/hooks.json" 2>/dev/null || fail "airflow providers hooks failed"
run "$bin/airflow" plugins -o json >"$work/plugins.json" 2>/dev/null || fail "airflow plugins failed"
"$bin/python" - "$work/providers.json" "$work/hooks.json" "$version" "$work/plugins.json" <<'EOF' || fail "see above"
import json, sys


def load(path):
    # Some releases log to stdout before the JSON (alembic plugin set-up on 3.0): take the JSON line.
    for line in reversed(open(path).read().splitlines()):
        if line.startswith(("[{", "[]")):
            return json.loads(line)
    sys.exit(f"no JSON in {path}")


providers = {p["package_name"]: p for p in load(sys.argv[1])}
hooks = {h["connection_type"]: h for h in load(sys.argv[2])}
ours = providers.get("airflow-provider-truto")
if not ours or ours["version"] != sys.argv[3]:
    sys.exit(f"'airflow providers list' shows no airflow-provider-truto {sys.argv[3]}: {sorted(providers)}")
hook = hooks.get("truto")
if not hook or hook["class"] != "airflow_provider_truto.hooks.truto.TrutoHook" or hook["hook_name"] != "Truto":
    sys.exit(f"'airflow providers hooks' shows no truto connection type: {hook or sorted(hooks)}")
if hook["package_name"] != "airflow-provider-truto" or hook["conn_id_attribute_name"] != "truto_conn_id":
    sys.exit(f"the truto connection type is registered oddly: {hook}")
plugins = {p["name"]: p for p in load(sys.argv[4])}
apps = [(a["name"], a["url_prefix"]) for a in plugins.get("truto", {}).get("fastapi_apps", [])]
if apps != [("truto_webhooks", "/truto")]:
    sys.exit(f"'airflow plugins' shows no truto plugin serving /truto: {plugins.get('truto') or sorted(plugins)}")
EOF
ok "airflow providers list / hooks / plugins show airflow-provider-truto $version, connection type truto, the receiver at /truto"

# The pytest11 plugin, as a user's test suite gets it: no conftest, only the installed wheel.
cat >test_plugin_from_wheel.py <<'EOF'
import os

import pytest

from airflow_provider_truto.hooks.truto import TrutoHook


@pytest.mark.truto_sandbox(channels=30, seed=4)
def test_sandbox_fixture_and_hook(truto_sandbox):
    assert os.environ["AIRFLOW_CONN_TRUTO_DEFAULT"] == truto_sandbox.airflow_conn_env("sandbox-account")
    channels = list(TrutoHook().list_channels("sandbox-account"))
    assert len(channels) == 30


def test_factory(truto_sandbox_factory):
    sandbox = truto_sandbox_factory(token="t" * 24)
    sandbox.add_account("a")
    assert sandbox.seed_channels("a", 3, seed=1)
EOF
run "$bin/pytest" -q -p no:cacheprovider test_plugin_from_wheel.py >"$work/pytest.log" 2>&1 ||
    { cat "$work/pytest.log"; fail "the pytest11 plugin does not work from the wheel"; }
tail -n 1 "$work/pytest.log"
ok "the truto pytest plugin's fixtures work from the wheel"

step "package check passed"
echo "package: $passed passed, 0 failed"
