"""Command-line options shared by several `rlem` commands."""

from __future__ import annotations

from typing import Annotated

import typer

from memory_store.limits import MAX_INT
from rlem.console import fail

DbOption = Annotated[
    str,
    typer.Option(
        "--db",
        envvar="RLEM_DB",
        help="Database URL: sqlite:///path/file.db or postgresql+psycopg://user@host/db.",
    ),
]
NamespaceOption = Annotated[
    str, typer.Option("--namespace", "-n", envvar="RLEM_NAMESPACE", help="Memory namespace.")
]
# Digits of the largest count (MAX_INT) an integer option reads by hand.
MAX_DIGITS = len(str(MAX_INT))
StateArgument = Annotated[int, typer.Argument(help="State id (from `rlem memory ls`).", min=1, max=MAX_INT)]
NStepOption = Annotated[
    str, typer.Option("--n-step", help="Bootstrap horizon n, or 'none' for full returns.")
]


def is_count(text: str) -> bool:
    """Whether `text` is a count an option reads by hand: ASCII digits ("²" is a digit to Python,
    yet not to int()), no more of them than MAX_INT has."""
    return text.isascii() and text.isdigit() and len(text) <= MAX_DIGITS


def parse_n_step(text: str) -> int | None:
    """`none` or a positive integer, as --n-step takes it."""
    if text.strip().lower() == "none":
        return None
    if not is_count(text) or int(text) < 1:
        fail(f"--n-step must be a positive integer or 'none', got {text[:40]!r}")
    return int(text)
