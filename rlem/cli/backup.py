"""`rlem backup`: online snapshots of a memory database, their verification, restores and listings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.filesize import decimal
from rich.table import Table

from memory_store.backup import (
    Manifest,
    backup_to_verify,
    create_backup,
    list_backups,
    prune_backups,
    restore_backup,
    verify_backup,
)
from rlem.cli.console import console
from rlem.cli.options import DbOption

app = typer.Typer(help="Back up, verify, restore and list memory databases.", no_args_is_help=True)

BackupArgument = Annotated[Path, typer.Argument(help="A backup folder (rlem-backup-...).")]


def summary(manifest: Manifest) -> str:
    """One line on what a backup holds."""
    contents = manifest.contents
    return (
        f"{len(contents.namespaces)} namespaces, {contents.states} states, {contents.actions} action values, "
        f"schema revision {contents.schema_revision}"
    )


@app.command("create")
def create_command(
    db: DbOption,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder of backups; this one goes in a new subfolder.")
    ],
    keep: Annotated[
        int | None, typer.Option("--keep", min=1, help="Then delete all but the newest N backups there.")
    ] = None,
) -> None:
    """Snapshot the database while agents keep writing, with a manifest of counts and checksums."""
    with console.status("backing up") as status:
        backup = create_backup(db, output, report=status.update)
    console.print(
        f"backed up {backup.manifest.source} to {backup.path} ({summary(backup.manifest)}, "
        f"{decimal(backup.manifest.size)})",
        markup=False,
    )
    if keep is not None:
        removed = prune_backups(output, keep)
        if removed:
            names = ", ".join(b.path.name for b in removed)
            console.print(f"removed {len(removed)} older backups: {names}", markup=False)


@app.command("verify")
def verify_command(
    path: Annotated[
        Path,
        typer.Argument(help="A backup folder (rlem-backup-...), or a folder of backups: its newest one."),
    ],
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            help="PostgreSQL URL whose server gets a scratch copy of a PostgreSQL backup "
            "(default: the server it came from).",
        ),
    ] = None,
) -> None:
    """Check the checksums, open the database copy, check its integrity and compare its counts."""
    backup = backup_to_verify(path)
    if backup != path:
        console.print(f"{path} is a folder of backups: verifying the newest, {backup.name}", markup=False)
    with console.status("verifying") as status:
        manifest = verify_backup(backup, server, report=status.update)
    console.print(f"{backup} is intact: {summary(manifest)}", markup=False)


@app.command("restore")
def restore_command(
    path: BackupArgument,
    db: DbOption,
    force: Annotated[bool, typer.Option("--force", help="Replace a database that holds data.")] = False,
) -> None:
    """Verify the backup, restore it beside the target, check it, then swap it in atomically."""
    with console.status("restoring") as status:
        restored = restore_backup(path, db, force=force, report=status.update)
    console.print(f"restored {path} into {restored.target} ({summary(restored.manifest)})", markup=False)
    if not restored.current:
        console.print(
            f"bring it to this rlem's schema before use: rlem db upgrade --db {restored.target}", markup=False
        )


@app.command("list")
def list_command(
    directory: Annotated[Path, typer.Argument(help="Folder of backups.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifests as JSON.")] = False,
) -> None:
    """Show the backups in a folder with what their manifests say, oldest first."""
    backups = list_backups(directory)
    if as_json:
        rows = [{"path": str(b.path), "manifest": b.manifest.model_dump(mode="json")} for b in backups]
        typer.echo(json.dumps(rows, indent=1, ensure_ascii=False))
        return
    if not backups:
        console.print(f"no backups in {directory}", markup=False)
        return
    # Fits 80 columns: there the date and the namespace names wrap, nothing else does.
    table = Table(box=None, padding=(0, 1), collapse_padding=True, pad_edge=False)
    table.add_column("backup", no_wrap=True)
    table.add_column("created (UTC)", min_width=10)
    table.add_column("dialect", no_wrap=True)
    table.add_column("rev", no_wrap=True)
    table.add_column("namespaces", min_width=6)
    table.add_column("states", justify="right", no_wrap=True)
    table.add_column("size", justify="right", no_wrap=True)
    for backup in backups:
        manifest = backup.manifest
        table.add_row(
            backup.path.name,
            manifest.created_at.strftime("%Y-%m-%d %H:%M"),
            manifest.dialect,
            manifest.contents.schema_revision,
            ", ".join(n.name for n in manifest.contents.namespaces) or "-",
            str(manifest.contents.states),
            decimal(manifest.size),
        )
    console.print(table)
