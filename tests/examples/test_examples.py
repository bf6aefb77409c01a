"""The examples run as a user runs them, from outside the project, and do what they say."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.slow
def test_your_own_environment_learns_through_sessions(tmp_path: Path):
    # Run from an empty folder: the program sees only the installed `rlem`, not the checkout's tests.
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "treasure_corridor.py"), "--db", f"sqlite:///{tmp_path / 'c.db'}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    learned, chance = map(float, re.findall(r"(\d\.\d\d)", result.stdout))
    assert learned > chance
