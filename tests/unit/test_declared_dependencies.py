"""Every third-party package the provider's code imports is a declared dependency of the installed
package (its metadata, as pip sees it): a runtime dependency, or one of an optional extra such as
``redis`` (whose code imports it only when the feature is used)."""

from __future__ import annotations

import ast
import sys
from importlib.metadata import packages_distributions, requires
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "airflow_provider_truto"
# Imported only by the pytest plugin, which only pytest itself loads.
NEEDS_NO_DECLARATION = {"pytest": "airflow_provider_truto/testing/pytest_plugin.py"}


def imported_modules() -> dict[str, set[str]]:
    """Top-level module -> the package files that import it (absolute imports only)."""
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                found.setdefault(name.partition(".")[0], set()).add(str(path.relative_to(REPO)))
    return found


def test_every_third_party_import_is_a_declared_dependency() -> None:
    requirements = [Requirement(r) for r in requires("airflow-provider-truto") or []]
    runtime = {canonicalize_name(r.name) for r in requirements if r.marker is None}
    # Optional extras count; the test extra does not (users never install it).
    optional = {
        canonicalize_name(r.name)
        for r in requirements
        if r.marker is not None and not r.marker.evaluate({"extra": "test"})
    }
    declared = runtime | optional
    distributions = packages_distributions()
    undeclared = {}
    for module, files in imported_modules().items():
        if module in sys.stdlib_module_names or module in ("__future__", "airflow_provider_truto"):
            continue
        if files == {NEEDS_NO_DECLARATION.get(module)}:
            continue
        provided_by = {canonicalize_name(d) for d in distributions.get(module, [])}
        assert provided_by, f"{module} (imported by {sorted(files)}) is not installed"
        if module == "airflow":  # a namespace many distributions share; `apache-airflow` brings ours
            assert "apache-airflow" in runtime
        elif not provided_by & declared:
            undeclared[module] = sorted(files)
    assert undeclared == {}, f"declare these in pyproject's dependencies: {undeclared}"
    assert {"httpx", "asgiref", "wtforms", "requests", "tenacity"} <= runtime
