"""Command-line options shared by several `rlem` commands."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from pydantic import BaseModel

from memory_store.limits import MAX_INT
from rlem.config import spell_tasks

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
StateArgument = Annotated[int, typer.Argument(help="State id (from `rlem memory ls`).", min=1, max=MAX_INT)]


def field_option(model: type[BaseModel], name: str, *flags: str, **extra: Any) -> Any:
    """A typer option for a config field: its description as help, its default shown. The option
    itself defaults to None ("not given"), so that the config alone holds the default."""
    default = model.model_fields[name].get_default(call_default_factory=True)
    if isinstance(default, list):
        shown = spell_tasks(default)
    else:
        shown = str(getattr(default, "value", default))
        shown = shown.lower() if default is None or isinstance(default, bool) else shown
    return typer.Option(*flags, help=model.model_fields[name].description, show_default=shown, **extra)
