"""Services a test starts from the machine's packages (PostgreSQL, Redis, Chromium), and test-only
Python packages that exist only for newer Pythons (the Celery provider).

On a bare machine (``make test`` with nothing but Python and make) a test whose service is not installed
is skipped with the package to install; on a Python too old for a package, naming the Python it needs.
CI installs every package (``scripts/install_services.sh``), runs the suites that need them on a Python
that has them all, and sets ``TRUTO_REQUIRE_SERVICES=1``, which turns such a skip into a failure: a test
CI must run never silently vanishes.
"""

from __future__ import annotations

import glob
import os
import shutil
import sys
from importlib.metadata import PackageNotFoundError, distribution
from typing import NoReturn

import pytest

REQUIRE_SERVICES_ENV = "TRUTO_REQUIRE_SERVICES"


def services_required() -> bool:
    return os.environ.get(REQUIRE_SERVICES_ENV) == "1"


def require_binary(name: str, *, debian_package: str, search: str | None = None) -> str:
    """The path of ``name`` (on PATH, else the first match of the ``search`` glob), or skip / fail."""
    path = shutil.which(name)
    if path is None and search:
        path = next(iter(sorted(glob.glob(search))), None)
    if path:
        return path
    _missing(f"{name} is not installed: apt-get install {debian_package} (or scripts/install_services.sh)")


def require_distribution(name: str, *, python: tuple[int, int]) -> None:
    """Go on if the Python package ``name`` (a test extra's, declared for ``python`` and newer) is
    installed, else skip / fail, naming the Python it needs or the command that installs it."""
    if sys.version_info < python:
        here = "{}.{}".format(*sys.version_info[:2])
        _missing(f"{name} needs Python {python[0]}.{python[1]} or newer (this is {here}): not installed here")
    try:
        distribution(name)
    except PackageNotFoundError:
        _missing(f"{name} is not installed: pip install -e '.[test]'")


def _missing(message: str) -> NoReturn:
    if services_required():
        pytest.fail(f"{message}; {REQUIRE_SERVICES_ENV}=1 requires it")
    pytest.skip(message)
