"""`rlem keys create|ls|revoke`: the API keys of `rlem serve`, stored hashed in the memory database."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated

import typer

from memory_store.admin.keys import check_key, create_key, list_keys, revoke_key
from memory_store.store import open_database
from rlem.cli.console import console
from rlem.cli.memory_inspect import JsonOption, connected
from rlem.cli.memory_render import add_row, print_json, table, when
from rlem.cli.options import DbOption

app = typer.Typer(help="API keys of `rlem serve`: create, list, revoke.", no_args_is_help=True)


class ScopeChoice(StrEnum):
    """What a key allows, each including the ones before."""

    read = "read"
    act = "act"
    admin = "admin"


@app.command("create")
def create_command(
    db: DbOption,
    namespace: Annotated[
        str, typer.Option("--namespace", "-n", help="The namespace the key reaches, or '*' for every one.")
    ],
    scope: Annotated[
        ScopeChoice,
        typer.Option(
            help="read (inspect, search), act (episodes; learns) or admin (edit, import, backups, keys)."
        ),
    ],
    label: Annotated[str, typer.Option(help="A note on what the key is for.")] = "",
) -> None:
    """Make a key and print its token, alone on stdout (it is shown this once, and never stored)."""
    # A bad namespace or label leaves no new database behind.
    check_key(namespace=namespace, scope=scope.value, label=label)
    database = open_database(db)
    try:
        key, token = create_key(database, namespace=namespace, scope=scope.value, label=label)
    finally:
        database.close()
    typer.echo(token)
    sys.stderr.write(
        f"key {key.id} ({key.scope} on {key.namespace}): the token above is shown once; keep it secret\n"
    )


@app.command("ls")
def ls_command(
    db: DbOption,
    revoked: Annotated[bool, typer.Option("--revoked", help="Show revoked keys too.")] = False,
    as_json: JsonOption = False,
) -> None:
    """List keys: id, the token's first characters, namespace, scope, label, when made and last used."""
    with connected(db) as database:
        keys = list_keys(database, revoked=revoked)
    if as_json:
        print_json(keys)
        return
    shown = table(["id", "token", "namespace", "scope", "label", "created", "last used", "revoked"], {"id"},
                  title="API keys (UTC)")  # fmt: skip
    for k in keys:
        add_row(shown, str(k.id), k.prefix + "…", k.namespace, k.scope, k.label or "-", when(k.created_at),
                when(k.last_used_at) if k.last_used_at else "never",
                when(k.revoked_at) if k.revoked_at else "-")  # fmt: skip
    console.print(shown)


@app.command("revoke")
def revoke_command(
    key_id: Annotated[int, typer.Argument(help="The key's id (from `rlem keys ls`).", min=1)],
    db: DbOption,
) -> None:
    """Revoke a key: every server on the database refuses it from its next request."""
    with connected(db) as database:
        key = revoke_key(database, key_id)
    console.print(f"revoked key {key.id} ({key.scope} on {key.namespace}, {key.prefix}…)", markup=False)
