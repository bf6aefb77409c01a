"""`rlem` run as a user runs it: as a subprocess (`python -m rlem.cli`), and the check of a refusal."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def rlem(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rlem.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def one_line_error(result: subprocess.CompletedProcess, message: str) -> None:
    """The command failed with exit 1 and one `error:` line containing the message."""
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr
