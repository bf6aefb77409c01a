"""`rlem` run in this process as the console script runs it (a subprocess spends seconds importing
torch): its exit code and what it wrote to stdout and stderr."""

from __future__ import annotations

import io
import logging
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from unittest.mock import patch

from rlem.cli.app import main


@dataclass(frozen=True)
class Outcome:
    """What a command left: its exit code and its output."""

    code: int | str | None
    stdout: str
    stderr: str


def rlem_in_process(*args: str) -> Outcome:
    """Run `rlem ARGS` through `rlem.cli.main`. Any exception but SystemExit (what would be a
    traceback) propagates and fails the test."""
    stdout, stderr = io.StringIO(), io.StringIO()
    handlers, level, code = logging.root.handlers[:], logging.root.level, 0
    try:
        with patch.object(sys, "argv", ["rlem", *args]), redirect_stdout(stdout), redirect_stderr(stderr):
            main()
    except SystemExit as exc:
        code = exc.code
    finally:  # the CLI sends logging to its own stderr; pytest's handlers come back
        logging.root.handlers[:] = handlers
        logging.root.setLevel(level)
    return Outcome(code, stdout.getvalue(), stderr.getvalue())
