"""The README's runnable examples run as written (the blocks marked `<!-- README test: run -->`)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"<!-- README test: run -->\n```(python|bash)\n(.*?)```", re.S)
BLOCKS = BLOCK.findall(README.read_text())


def test_the_readme_marks_its_runnable_examples():
    # The session API, the gymnasium adapter, the service and the CLI at a glance.
    assert [kind for kind, _ in BLOCKS] == ["python", "python", "bash", "bash"]


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "code"), BLOCKS, ids=[f"{kind}-{i}" for i, (kind, _) in enumerate(BLOCKS)])
def test_a_readme_example_runs_as_written(kind: str, code: str, tmp_path: Path):
    # In an empty folder, with this interpreter's `rlem` first on PATH, as after `dev.py setup`.
    env = os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    command = [sys.executable, "-c", code] if kind == "python" else ["bash", "-euo", "pipefail", "-c", code]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
