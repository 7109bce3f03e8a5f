"""Every third-party package the provider's code imports is a declared dependency of the installed
package (its metadata, as pip sees it): a runtime dependency, or one of an optional extra such as
``redis`` (whose code imports it only when the feature is used)."""

from __future__ import annotations

import ast
import sys
from importlib.metadata import distributions, metadata, packages_distributions, requires
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


def module_distributions() -> dict[str, set[str]]:
    """Top-level module -> the installed distributions that provide it. ``packages_distributions`` reads
    only ``top_level.txt`` on Python 3.10, which most wheels built today lack; 3.11 also infers the
    modules from each distribution's RECORD, as this does on every Python."""
    found = {module: set(names) for module, names in packages_distributions().items()}
    for dist in distributions():
        name = dist.metadata["Name"]
        for line in (dist.read_text("RECORD") or "").splitlines():
            path = line.split(",", 1)[0]
            if path.endswith(".py"):
                module = path.split("/", 1)[0] if "/" in path else path[: -len(".py")]
                found.setdefault(module, set()).add(name)
    return found


def test_every_third_party_import_is_a_declared_dependency() -> None:
    requirements = [Requirement(r) for r in requires("airflow-provider-truto") or []]
    # Optional extras count; the test extra does not (users never install it).
    extras = set(metadata("airflow-provider-truto").get_all("Provides-Extra") or []) - {"test"}
    unconditional = [r for r in requirements if r.marker is None or r.marker.evaluate({"extra": ""})]
    runtime = {canonicalize_name(r.name) for r in unconditional}
    optional = {
        canonicalize_name(r.name)
        for r in requirements
        for extra in extras
        if r.marker is not None and r.marker.evaluate({"extra": extra})
    }
    declared = runtime | optional
    distributions = module_distributions()
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
