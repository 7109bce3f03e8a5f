#!/usr/bin/env bash
# The fast tests (unit, sandbox, hostile servers, Redis: no Airflow run, no service stack, no browser) on
# the other supported Pythons, each in its own venv: .venv-py<version>. The whole suite runs on the
# Python of .venv (make test; Python 3.11 here).
#
#   scripts/test_pythons.sh                  # every Python pyproject's classifiers name but .venv's
#   scripts/test_pythons.sh 3.10 3.13        # any Pythons
#   JOBS=1 scripts/test_pythons.sh           # one Python after another (default: all at once)
#   PYTEST_ARGS='-x' scripts/test_pythons.sh
#
# An interpreter is python<version> on PATH, else the newest ~/.pyenv/versions/<version>.*. The venvs are
# built one after another with uv (uv venv, uv pip install -e '.[test]' apache-airflow==$AIRFLOW_VERSION)
# and reused while pyproject.toml is unchanged. The tests then run on every Python at once: they mostly
# wait (on sockets, sleeps and subprocesses), so on 2 cores three runs at once take little more than one.
# Each run's output goes to .venv-py<version>/pytest.log and is printed when it ends. Prints one line per
# Python (venv and test times) and exits non-zero if any failed.
set -euo pipefail
cd "$(dirname "$0")/.."

AIRFLOW_VERSION=${AIRFLOW_VERSION:-3.3.2}
UV=${UV:-.venv/bin/uv}
JOBS=${JOBS:-0}  # how many Pythons are tested at once; 0: all
PYTEST_ARGS=${PYTEST_ARGS:-}
# Markers, not directories, choose the tests, so moving test files changes nothing here: no real Airflow
# (integration), no service stack (system), no browser. The Redis tests start Debian's redis-server in
# milliseconds where it is installed (CI installs it) and skip naming the package where it is not.
MARKERS="not integration and not system and not browser"
versions=("$@")
if [ ${#versions[@]} -eq 0 ]; then
    main=$(.venv/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true)
    for version in $(sed -n 's/.*"Programming Language :: Python :: \(3\.[0-9]*\)".*/\1/p' pyproject.toml); do
        [ "$version" = "$main" ] || versions+=("$version")
    done
fi

interpreter() {
    local version=$1 found
    # A pyenv shim on PATH exists for every version but runs only the selected ones: try, do not trust.
    if found=$(command -v "python$version") && "$found" -c '' 2>/dev/null; then
        echo "$found"
        return 0
    fi
    found=$(find "${PYENV_ROOT:-$HOME/.pyenv}/versions" -maxdepth 1 -name "$version.*" 2>/dev/null |
        sort -V | tail -n 1)
    [ -n "$found" ] && "$found/bin/python$version" -c '' 2>/dev/null && echo "$found/bin/python$version"
}

build_venv() {
    local python=$1 venv=$2 marker
    marker="$venv/.installed-$( (cat pyproject.toml; echo "$AIRFLOW_VERSION") | sha1sum | cut -c1-12)"
    [ -e "$marker" ] && return 0
    rm -rf "$venv"
    # Called in an `if`, where set -e does not stop a function: each step says whether it failed.
    "$UV" venv -q -p "$python" "$venv" || return 1
    "$UV" pip install -q -p "$venv/bin/python" -e '.[test]' "apache-airflow==$AIRFLOW_VERSION" || return 1
    touch "$marker"
}

# One Python's tests, output to its log; writes "<pytest exit status> <seconds>" to its result file.
run_tests() {
    local venv=$1 home status=0 start=$SECONDS
    home=$(mktemp -d)  # an AIRFLOW_HOME of its own: nothing leaks between Pythons or into ~/airflow
    eval "AIRFLOW_HOME=$home $venv/bin/pytest -q -p no:cacheprovider -m \"$MARKERS\" $PYTEST_ARGS" \
        >"$venv/pytest.log" 2>&1 || status=$?
    rm -rf "$home"
    echo "$status $((SECONDS - start))" >"$venv/pytest.result"
}

summary=()
failed=0
ready=()
declare -A built
for version in "${versions[@]}"; do
    venv=".venv-py$version"
    echo "== Python $version: $venv, Airflow $AIRFLOW_VERSION"
    start=$SECONDS
    if ! python=$(interpreter "$version"); then
        summary+=("Python $version: no interpreter (python$version on PATH or under ~/.pyenv/versions)")
        failed=1
        continue
    fi
    if ! build_venv "$python" "$venv"; then
        summary+=("Python $version: venv build FAILED")
        failed=1
        continue
    fi
    got=$("$venv/bin/python" -c 'import sys; from importlib.metadata import version
print("%d.%d" % sys.version_info[:2], version("apache-airflow"))')
    if [ "$got" != "$version $AIRFLOW_VERSION" ]; then
        summary+=("Python $version: the venv has Python and Airflow $got instead")
        failed=1
        continue
    fi
    built[$version]=$((SECONDS - start))
    ready+=("$version")
done

echo "== tests (-m \"$MARKERS\") on ${ready[*]:-none}, $([ "$JOBS" -eq 0 ] && echo all || echo "$JOBS") at once"
start=$SECONDS
running=0
for version in "${ready[@]}"; do
    rm -f ".venv-py$version/pytest.result"
    run_tests ".venv-py$version" &
    running=$((running + 1))
    if [ "$JOBS" -gt 0 ] && [ "$running" -ge "$JOBS" ]; then
        wait -n || true
        running=$((running - 1))
    fi
done
wait
for version in "${ready[@]}"; do
    venv=".venv-py$version"
    echo "== Python $version: $venv/pytest.log"
    cat "$venv/pytest.log"
    read -r status took <"$venv/pytest.result" || { status=1 took=?; }
    if [ "$status" -eq 0 ]; then
        summary+=("Python $version: passed, tests ${took}s (venv ${built[$version]}s)")
    else
        summary+=("Python $version: FAILED (pytest exit $status), tests ${took}s (venv ${built[$version]}s)")
        failed=1
    fi
done

echo
printf '%s\n' "${summary[@]}"
bad=$(printf '%s\n' "${summary[@]}" | grep -c -v ': passed' || true)
echo "pythons: $((${#summary[@]} - bad)) passed, $bad failed; tests took $((SECONDS - start))s in all"
exit "$failed"
