"""Shared terminal output for the CLI: rich consoles and one-line error reporting."""

from __future__ import annotations

import logging

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)


def setup_logging(verbose: bool) -> None:
    """Send log records to stderr through rich: warnings by default, everything with --verbose."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=errors, show_path=False, show_time=False)],
        force=True,
    )
    # Third-party chatter is never what the user asked about.
    for noisy in ("sentence_transformers", "transformers", "httpx", "alembic", "faiss"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def fail(message: str, code: int = 1) -> None:
    """Print a one-line error and leave with a non-zero exit code."""
    errors.print(Text.assemble(("error: ", "bold red"), message), highlight=False)
    raise SystemExit(code)


def progress() -> Progress:
    """The CLI's progress bar: a description, a count, the time spent and the time left."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )
