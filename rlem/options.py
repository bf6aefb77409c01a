"""Command-line options shared by several `rlem` commands."""

from __future__ import annotations

from typing import Annotated

import typer

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
