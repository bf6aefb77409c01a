"""Shared terminal output for the CLI: rich consoles and one-line error reporting."""

from __future__ import annotations

import logging

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from memory_store.errors import one_line

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)


class LineHandler(logging.Handler):
    """Each log record as one unwrapped line on stderr, `warning: ...` beside the CLI's `error: ...`."""

    STYLES = {"debug": "dim", "info": "blue", "warning": "bold yellow", "error": "bold red"}

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level = record.levelname.lower()
            label = (f"{level}: ", self.STYLES.get(level, "bold red"))
            errors.print(Text.assemble(label, self.format(record)), highlight=False)
        except Exception:
            self.handleError(record)


def setup_logging(verbose: bool) -> None:
    """Send log records to stderr, one line each: warnings by default, everything with --verbose."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[LineHandler()],
        force=True,
    )
    # Third-party chatter is never what the user asked about.
    for noisy in ("sentence_transformers", "transformers", "httpx", "alembic", "faiss"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def fail(message: str, code: int = 1) -> None:
    """Print a one-line error and leave with a non-zero exit code (line breaks and other control
    characters in what the message quotes, a path or a URL say, are escaped)."""
    errors.print(Text.assemble(("error: ", "bold red"), one_line(message)), highlight=False)
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
