"""Command-line options shared by several `rlem` commands."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.markup import escape

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
    """A typer option for a config field: its description as help, its default (if any) shown. The
    option itself defaults to None ("not given"), so that the config alone holds the default."""
    field = model.model_fields[name]
    default = field.get_default(call_default_factory=True)
    help_text = field.description or ""
    if isinstance(default, list):
        shown = spell_tasks(default)
    elif isinstance(default, bool):
        shown = "on" if default else "off"
    else:
        shown = None if default is None else str(getattr(default, "value", default))
    if shown is not None:  # as typer shows a default; a bracket would be read as rich markup
        help_text += escape(f" [default: {shown}]")
    return typer.Option(*flags, help=help_text, show_default=False, **extra)


def given_fields(model: type[BaseModel], values: dict[str, Any]) -> dict[str, Any]:
    """The config fields among a command's arguments (`locals()`) that were given (not None)."""
    return {name: value for name, value in values.items() if name in model.model_fields and value is not None}
