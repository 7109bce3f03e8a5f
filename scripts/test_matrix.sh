#!/usr/bin/env bash
# Run the test suite against other Airflow releases, each in its own venv: .venv-airflow-<version>.
#
#   scripts/test_matrix.sh                 # the lowest supported release (see LOWEST below)
#   scripts/test_matrix.sh 3.0.6 3.1.8     # any releases
#   PYTEST_ARGS='-m "not integration"' scripts/test_matrix.sh
#
# A venv is built once (python -m venv, pip install uv, uv pip install -e '.[test]' apache-airflow==<v>)
# and reused while pyproject.toml is unchanged. Prints one line per release and exits non-zero if any
# release failed. PYTHON picks the interpreter (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."

LOWEST=3.0.6
PYTHON=${PYTHON:-python3}
PYTEST_ARGS=${PYTEST_ARGS:-}
versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=("$LOWEST")

# Older releases leave parts of their web stack open, and today's releases of those break the Execution
# API that every task talks to. Airflow's constraints files pin them (they are not on PyPI); these are the
# pins that matter. 3.0: "Input should be a valid dictionary" on every task start (pins from the 3.0
# constraints). 3.2: cadwyn >= 8 or fastapi >= 0.137 fail to build the API's models ("needs a
# discriminator field"), svcs >= 26 breaks the in-process API of `airflow dags test` ("no attribute
# 'svcs_registry'"). 3.0's ObjectStoragePath refuses every path with universal-pathlib >= 0.3
# ("incompatible with ObjectStoragePath"). 3.0 and 3.1 set an attribute on cryptography's MultiFernet,
# which cryptography 51 made a Rust type without attributes: once a Fernet key is set, every connection
# with a password fails to load ("'MultiFernet' object has no attribute 'is_encrypted'", seen on 3.0.6 and
# 3.1.8; 3.2 wraps it); 45 is what 3.0's constraints knew. 3.1 and 3.3 cap the rest themselves.
pins_for() {
    case "$1" in
        3.0.*) echo "fastapi==0.115.12 starlette==0.46.2 cadwyn==5.3.3 universal-pathlib<0.3 cryptography<46" ;;
        3.1.*) echo "cryptography<46" ;;
        3.2.*) echo "fastapi<0.137 cadwyn<8 svcs<26" ;;
        *) echo "" ;;
    esac
}

build_venv() {
    local version=$1 venv=".venv-airflow-$1"
    local marker
    marker="$venv/.installed-$( (cat pyproject.toml; pins_for "$version") | sha1sum | cut -c1-12)"
    [ -e "$marker" ] && return 0
    rm -rf "$venv"
    "$PYTHON" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check uv
    # shellcheck disable=SC2046 # the pins are separate words on purpose
    "$venv/bin/python" -m uv pip install -q -p "$venv/bin/python" -e '.[test]' \
        "apache-airflow==$version" $(pins_for "$version")
    touch "$marker"
}

summary=()
failed=0
for version in "${versions[@]}"; do
    venv=".venv-airflow-$version"
    echo "== Airflow $version ($venv)"
    start=$SECONDS
    if ! build_venv "$version"; then
        summary+=("Airflow $version: venv build FAILED")
        failed=1
        continue
    fi
    installed=$("$venv/bin/python" -c 'from importlib.metadata import version; print(version("apache-airflow"))')
    if [ "$installed" != "$version" ]; then
        summary+=("Airflow $version: got $installed instead")
        failed=1
        continue
    fi
    built=$((SECONDS - start))
    # Each release's own AIRFLOW_HOME, so no state leaks between releases or into ~/airflow.
    home=$(mktemp -d)
    status=0
    eval "AIRFLOW_HOME=$home $venv/bin/pytest -q -p no:cacheprovider $PYTEST_ARGS" || status=$?
    rm -rf "$home"
    took=$((SECONDS - start))
    if [ "$status" -eq 0 ]; then
        summary+=("Airflow $version: passed in ${took}s (venv ${built}s)")
    else
        summary+=("Airflow $version: FAILED (pytest exit $status) in ${took}s (venv ${built}s)")
        failed=1
    fi
done

echo
printf '%s\n' "${summary[@]}"
bad=$(printf '%s\n' "${summary[@]}" | grep -c -v ': passed' || true)
echo "matrix: $((${#summary[@]} - bad)) passed, $bad failed"
exit "$failed"
