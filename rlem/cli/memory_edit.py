"""`rlem memory edit|delete|delete-namespace|prune|reembed|copy`: changing a memory by hand.

Each change commits together with its audit rows (`rlem memory audit` lists them).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from memory_store import SentenceTransformerEmbedder
from memory_store.admin.copy import copy_namespaces
from memory_store.admin.editing import delete_namespaces, delete_state, open_for_editing, prune, set_q
from memory_store.admin.inspection import namespace_summaries, state_namespace
from memory_store.admin.reembed import reembed
from memory_store.db.database import Database
from memory_store.db.namespaces import get_namespace, list_namespaces
from memory_store.limits import MAX_INT
from memory_store.names import second_table
from memory_store.store import open_database
from rlem.cli.console import console, fail, progress
from rlem.cli.memory_inspect import connected
from rlem.cli.memory_render import short
from rlem.cli.options import DbOption, NamespaceOption, StateArgument

# --older-than is at most 1,000 years of days (not many more overflow Python's dates).
MAX_DAYS = 365_000
# How audit rows name changes made with these commands.
CLI = "cli"
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


def with_second_table(db: Database, namespace: str) -> list[str]:
    """The namespace, and its second Q table when double Q-learning made one."""
    names = {n.name for n in list_namespaces(db)}
    return [namespace, second_table(namespace)] if second_table(namespace) in names else [namespace]


def say(message: str) -> None:
    """One line of plain output (stored text may hold rich markup brackets)."""
    console.print(message, markup=False, highlight=False)


def edit_command(
    state_id: StateArgument,
    db: DbOption,
    action: Annotated[str, typer.Option("--action", "-a", help="The action whose Q to set.")],
    q: Annotated[float, typer.Option("--q", help="The new Q value.")],
) -> None:
    """Set Q of one action of one state; nothing else changes."""
    with connected(db) as database:
        info = state_namespace(database, state_id)
        with open_for_editing(database, info) as store:
            old = set_q(store, state_id, action, q, actor=CLI)
    say(f"state {state_id} in namespace {info.name}: Q of {action!r} {old:g} -> {q:g}")


def delete_command(state_id: StateArgument, db: DbOption) -> None:
    """Delete one state and its actions."""
    with connected(db) as database:
        info = state_namespace(database, state_id)
        with open_for_editing(database, info) as store:
            gone = delete_state(store, state_id, actor=CLI)
    say(f"deleted state {state_id} ({short(gone.observation)}) from namespace {info.name}")


def delete_namespace_command(
    namespace: Annotated[str, typer.Argument(help="The namespace to delete.")],
    db: DbOption,
    yes: YesOption = False,
) -> None:
    """Delete a namespace with everything in it (and its second Q table, if any), after confirmation."""
    with connected(db) as database:
        get_namespace(database, namespace)
        names = with_second_table(database, namespace)
        sizes = {s.name: s for s in namespace_summaries(database) if s.name in names}
        what = " and its second Q table ".join(
            f"{name!r} ({sizes[name].states} states, {sizes[name].actions} action values)" for name in names
        )
        if not yes:
            typer.confirm(f"delete namespace {what}?", abort=True)
        deleted = delete_namespaces(database, names, actor=CLI)
    for gone in deleted:
        say(f"deleted namespace {gone.name}: {gone.states} states, {gone.actions} action values")


def prune_command(
    db: DbOption,
    namespace: NamespaceOption = "default",
    min_visits: Annotated[
        int | None, typer.Option(min=1, max=MAX_INT, help="Delete states visited fewer times.")
    ] = None,
    older_than: Annotated[
        float | None,
        typer.Option(min=0, max=MAX_DAYS, help="Delete states not updated for this many days."),
    ] = None,
) -> None:
    """Delete rarely visited and/or stale states (a state must meet every condition given)."""
    if min_visits is None and older_than is None:
        fail("give --min-visits N, --older-than DAYS, or both")
    with connected(db) as database:
        with open_for_editing(database, get_namespace(database, namespace)) as store:
            gone = prune(
                store,
                min_visits=min_visits,
                older_than=timedelta(days=older_than) if older_than is not None else None,
                actor=CLI,
            )
            left = len(store)
    say(f"pruned {len(gone)} states from namespace {namespace} ({left} left)")


def reembed_command(
    db: DbOption,
    model: Annotated[Path, typer.Option("--model", help="Sentence-transformers model directory.")],
    namespace: NamespaceOption = "default",
) -> None:
    """Re-embed a namespace (and its second Q table) with another model, switching over atomically."""
    embedder = SentenceTransformerEmbedder(model)
    with connected(db) as database:
        names = with_second_table(database, namespace)
        with progress() as bar:

            def track(name: str):
                task = bar.add_task(f"re-embedding {name}", total=None)
                return lambda done, total: bar.update(task, completed=done, total=total)

            results = reembed(database, names, embedder, progress=track, actor=CLI)
    for r in results:
        say(
            f"re-embedded {r.states} states of namespace {r.name}: "
            f"{r.old_model} ({r.old_dim}-d) -> {r.new_model} ({r.new_dim}-d)"
        )


def copy_command(
    source: Annotated[str, typer.Option("--from", help="Database to copy from.")],
    target: Annotated[str, typer.Option("--to", help="Database to copy into (created if empty).")],
    namespace: NamespaceOption = "default",
    replace: Annotated[
        bool, typer.Option("--replace", help="Overwrite the namespace in the target.")
    ] = False,
) -> None:
    """Copy a namespace (and its second Q table) to another database, embeddings and all."""
    with connected(source) as source_db:
        names = with_second_table(source_db, namespace)
        target_db = open_database(target)
        try:
            copied = copy_namespaces(source_db, target_db, names, replace=replace, actor=CLI)
        finally:
            target_db.close()
    for c in copied:
        replaced = f", replacing {c.replaced} states" if c.replaced else ""
        say(
            f"copied namespace {c.name} ({c.states} states, {c.actions} action values, "
            f"{c.evictions} evictions; {c.embedding_model}, {c.embedding_dim}-d) "
            f"to {target_db.display_url}{replaced}"
        )


def register(app: typer.Typer) -> None:
    """Add these commands to `rlem memory`."""
    app.command("edit")(edit_command)
    app.command("delete")(delete_command)
    app.command("delete-namespace")(delete_namespace_command)
    app.command("prune")(prune_command)
    app.command("reembed")(reembed_command)
    app.command("copy")(copy_command)
