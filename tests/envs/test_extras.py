"""A built-in environment whose package is an extra of rlem says how to install it when it is absent."""

from __future__ import annotations

import importlib.util

import pytest

from envs import make_env
from envs.registry import UnknownEnvironment


@pytest.mark.parametrize("name", ["textworld", "scienceworld"])
def test_an_absent_extra_is_one_line_naming_the_install(name, monkeypatch):
    # The packages are installed here: hide one (the only way to meet its absence in this venv).
    found = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == name else found(n, *a))
    with pytest.raises(UnknownEnvironment, match=rf"needs the {name} package.*pip install 'rlem\[{name}\]'"):
        make_env(f"{name}:x")
