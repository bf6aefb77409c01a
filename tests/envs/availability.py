"""Which optional packages (the extras of rlem) can run here, and the one rule for tests that need one.

A test that needs an optional package carries `requires(package)` (as a mark, a module's `pytestmark`,
or a parameter's mark). Where the package cannot run it skips, saying why and how to install it;
where the environment variable CI is set (to anything but the empty string) it fails instead, so a
CI job cannot pass by skipping what its missing install should have run. tests/conftest.py applies
the rule (`check`) before each marked test's fixtures are set up.
"""

from __future__ import annotations

import importlib.util
import os
import shutil

import pytest

# Each optional module and what installs it.
EXTRAS = {
    "llama_cpp": "llama-cpp-python[server]",
    "textworld": "textworld",
    "scienceworld": "scienceworld",
}


def missing(package: str | None) -> str | None:
    """Why an environment needing `package` (None: nothing beyond the core) cannot run here, or None."""
    if package is None:
        return None
    if importlib.util.find_spec(package) is None:
        return f"the {package} package is not installed"
    if package == "scienceworld" and shutil.which("java") is None:
        return "ScienceWorld runs on Java, and no java is on PATH"
    return None


def in_ci() -> bool:
    """Whether the tests run in CI (the variable CI is set and not empty)."""
    return bool(os.environ.get("CI"))


def requires(package: str) -> pytest.MarkDecorator:
    """The mark of a test that needs the optional `package` (a key of EXTRAS)."""
    if package not in EXTRAS:
        raise ValueError(f"requires({package!r}): name one of {', '.join(EXTRAS)}")
    return pytest.mark.requires(package)


def check(package: str) -> None:
    """Skip the running test, saying why, where `package` cannot run; with CI set, fail it instead."""
    reason = missing(package)
    if reason is None:
        return
    message = f"{reason} (pip install '{EXTRAS[package]}')"
    if in_ci():
        pytest.fail(f"{message}; CI is set, so a test that needs it fails instead of skipping", pytrace=False)
    pytest.skip(message)
