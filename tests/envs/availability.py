"""Which optional environment packages can run here, and the skip mark for those that cannot."""

from __future__ import annotations

import importlib.util
import shutil

import pytest


def missing(package: str | None) -> str | None:
    """Why an environment needing `package` (None: nothing beyond the core) cannot run here, or None."""
    if package is None:
        return None
    if importlib.util.find_spec(package) is None:
        return f"the {package} package is not installed"
    if package == "scienceworld" and shutil.which("java") is None:
        return "ScienceWorld runs on Java, and no java is on PATH"
    return None


def needs(package: str) -> pytest.MarkDecorator:
    """Skip, saying why, where `package` cannot run."""
    reason = missing(package)
    return pytest.mark.skipif(reason is not None, reason=reason or "")
