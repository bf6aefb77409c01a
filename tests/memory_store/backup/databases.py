"""Databases to back up and restore into, on SQLite or PostgreSQL: filling one, reading all of it
back, creating and dropping targets and the copies restores make."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url

from memory_store import ExperienceStore, StoreConfig, Update
from memory_store.db.namespaces import list_namespaces
from memory_store.formats.transfer import export_memory
from memory_store.store import open_database
from memory_store.vectors.embedder import Embedder
from tests.postgres import admin_connection, drop_pg_database

TASK = "Keep the ledger."


def fill(url: str, embedder: Embedder, observations: list[str], namespace: str = "default") -> None:
    """Store one state per observation, each with one action value, in the namespace."""
    config = StoreConfig(url=url, namespace=namespace)
    with ExperienceStore.open(config, embedder=embedder) as store:
        store.apply([Update(TASK, o, "note it", target=1.0, reward=0.5) for o in observations])


def export_all(url: str, embedder: Embedder, folder: Path) -> dict[str, object]:
    """Every namespace of the database as its JSON export."""
    db = open_database(url, create=False)
    try:
        names = [n.name for n in list_namespaces(db)]
    finally:
        db.close()
    folder.mkdir(parents=True, exist_ok=True)
    exports = {}
    for name in names:
        config = StoreConfig(url=url, namespace=name, persist_index=False)
        with ExperienceStore.open(config, embedder=embedder, create=False) as store:
            export_memory(store, folder / f"{name}.json", "json")
        exports[name] = json.loads((folder / f"{name}.json").read_text())
    return exports


def create_database(url: str) -> None:
    """Make the (empty) PostgreSQL database a URL names; a SQLite file makes itself."""
    if make_url(url).get_backend_name() == "postgresql":
        with admin_connection() as connection:
            connection.execute(f'CREATE DATABASE "{make_url(url).database}"')


def drop_copies(url: str) -> None:
    """Drop every scratch or replaced copy that restores made of a PostgreSQL database."""
    name = make_url(url).database
    with admin_connection() as connection:
        rows = connection.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s OR datname LIKE %s",
            (f"{name}\\_restore\\_%", f"{name}\\_old\\_%"),
        ).fetchall()
        for (found,) in rows:
            connection.execute(f'DROP DATABASE IF EXISTS "{found}" WITH (FORCE)')


@contextmanager
def new_target(db_url: str, folder: Path) -> Iterator[str]:
    """A restore target of the same kind as db_url that does not exist yet, removed afterwards."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        yield f"sqlite:///{folder / 'restored.db'}"
        return
    target = url.set(database=f"{url.database}_target").render_as_string(hide_password=False)
    try:
        yield target
    finally:
        drop_pg_database(target)
        drop_copies(target)
