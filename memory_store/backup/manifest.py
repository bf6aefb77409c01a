"""The backup folder format: `manifest.json` beside one data file, and what a backup holds.

The manifest records the schema revision, every namespace with its state and action counts and
embedding model, the row count of every table, when and by which rlem it was made, and the SHA-256
and size of every file. The counts are read from the snapshot itself, so verify and restore can
compare a copy against them exactly.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Connection, func, inspect, select, table

from memory_store.db.models import ActionValue, Experience, Namespace
from memory_store.db.schema import current_revision
from memory_store.errors import StoreError, first_problem
from memory_store.files import write_atomically

MANIFEST = "manifest.json"
FORMAT = "rlem-backup"
VERSION = 1
Dialect = Literal["sqlite", "postgresql"]
Strict = ConfigDict(extra="forbid", frozen=True)


class BackupError(StoreError):
    """A backup cannot be made, read, verified or restored; the message names the first problem."""


class NamespaceCount(BaseModel):
    """One namespace of a snapshot: its embedding model and how much it holds."""

    model_config = Strict

    name: str
    embedding_model: str
    embedding_dim: int
    states: int = Field(ge=0)
    actions: int = Field(ge=0)


class Contents(BaseModel):
    """What a database holds at one moment: schema revision, namespaces, and rows per table."""

    model_config = Strict

    schema_revision: str | None
    namespaces: list[NamespaceCount]
    tables: dict[str, int]

    @property
    def states(self) -> int:
        """States over all namespaces."""
        return sum(n.states for n in self.namespaces)

    @property
    def actions(self) -> int:
        """Action values over all namespaces."""
        return sum(n.actions for n in self.namespaces)


class FileEntry(BaseModel):
    """A file of the backup folder."""

    model_config = Strict

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)


class Manifest(BaseModel):
    """`manifest.json`: where the backup came from, what it holds, and the checksum of every file."""

    model_config = Strict

    format: Literal["rlem-backup"] = FORMAT
    version: Literal[1] = VERSION
    created_at: datetime
    rlem_version: str
    dialect: Dialect
    source: str
    data_file: str
    contents: Contents
    files: dict[str, FileEntry]

    @property
    def size(self) -> int:
        """Bytes over all files."""
        return sum(f.size for f in self.files.values())


def read_contents(connection: Connection) -> Contents:
    """Count what the database behind `connection` holds, inside its current transaction."""
    states = (
        select(func.count())
        .select_from(Experience)
        .where(Experience.namespace_id == Namespace.id)
        .correlate(Namespace)
        .scalar_subquery()
        .label("states")
    )
    actions = (
        select(func.count())
        .select_from(ActionValue)
        .join(Experience, ActionValue.experience_id == Experience.id)
        .where(Experience.namespace_id == Namespace.id)
        .correlate(Namespace)
        .scalar_subquery()
        .label("actions")
    )
    names = set(inspect(connection).get_table_names())
    namespaces = []
    if Namespace.__tablename__ in names:
        rows = connection.execute(
            select(
                Namespace.name, Namespace.embedding_model, Namespace.embedding_dim, states, actions
            ).order_by(Namespace.name)
        )
        namespaces = [NamespaceCount(**row._mapping) for row in rows]
    return Contents(
        schema_revision=current_revision(connection),
        namespaces=namespaces,
        tables={
            name: connection.execute(select(func.count()).select_from(table(name))).scalar_one()
            for name in sorted(names)
        },
    )


def mismatch(found: Contents, expected: Contents) -> str | None:
    """The first way `found` differs from the manifest's `expected`, in words; None when equal."""
    if found.schema_revision != expected.schema_revision:
        return f"schema revision is {found.schema_revision}, the manifest says {expected.schema_revision}"
    held = {n.name: n for n in found.namespaces}
    for want in expected.namespaces:
        have = held.pop(want.name, None)
        if have is None:
            return f"namespace {want.name!r} is missing"
        if have != want:
            return (
                f"namespace {want.name!r} holds {have.states} states and {have.actions} action values, "
                f"the manifest says {want.states} and {want.actions}"
            )
    if held:
        return f"namespace {sorted(held)[0]!r} is not in the manifest"
    for name in sorted(found.tables.keys() | expected.tables.keys()):
        have_rows, want_rows = found.tables.get(name), expected.tables.get(name)
        if have_rows != want_rows:
            return f"table {name} has {have_rows} rows, the manifest says {want_rows}"
    return None


def sha256_of(path: Path) -> str:
    """The hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def entry(path: Path) -> FileEntry:
    """The manifest entry of a file."""
    return FileEntry(sha256=sha256_of(path), size=path.stat().st_size)


def write_manifest(folder: Path, manifest: Manifest) -> None:
    """Write `manifest.json` into the folder (atomically)."""
    text = json.dumps(manifest.model_dump(mode="json"), indent=1, ensure_ascii=False) + "\n"
    write_atomically(folder / MANIFEST, text.encode())


def read_manifest(folder: Path) -> Manifest:
    """The folder's manifest, or BackupError saying why it is not an rlem backup."""
    path = folder / MANIFEST
    if not folder.is_dir():
        raise BackupError(f"{folder} is not a backup folder (no such directory)")
    try:
        return Manifest.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise BackupError(f"{folder} is not an rlem backup: it has no {MANIFEST}") from None
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror}") from None
    except ValidationError as exc:
        raise BackupError(f"{path} is not a valid rlem backup manifest: {first_problem(exc)}") from None


def check_files(folder: Path, manifest: Manifest) -> None:
    """Compare every file's size and SHA-256 with the manifest; raise BackupError at the first mismatch."""
    if manifest.data_file not in manifest.files:
        raise BackupError(f"{folder / MANIFEST} lists no checksum for its data file {manifest.data_file}")
    for name, want in sorted(manifest.files.items()):
        if Path(name).name != name or name in (".", ".."):
            raise BackupError(f"{folder / MANIFEST} names {name!r}, which is not a file of the backup folder")
        path = folder / name
        if not path.is_file():
            raise BackupError(f"{path} is missing: the backup is incomplete")
        size = path.stat().st_size
        if size != want.size:
            raise BackupError(f"{path} has {size} bytes, the manifest says {want.size}: the file is damaged")
        if sha256_of(path) != want.sha256:
            raise BackupError(f"{path} does not match its SHA-256 in the manifest: the file is damaged")
