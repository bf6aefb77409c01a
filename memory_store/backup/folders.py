"""Online backups of a memory database: create, verify, restore, list and prune backup folders.

A backup is a folder `rlem-backup-<UTC time>/` holding one data file (`memory.db`, a SQLite
snapshot, or `memory.dump`, pg_dump's custom format) and `manifest.json` (memory_store.backup.manifest).
It is written under a hidden name and renamed into place when complete, so a failed backup leaves
nothing that looks like one. A restore checks the backup's checksums before it touches anything,
checks the restored copy against the manifest, and only then swaps it in for the live data.
"""

from __future__ import annotations

import errno
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from sqlalchemy.engine import URL

from memory_store.backup import postgres, sqlite
from memory_store.backup.manifest import (
    MANIFEST,
    BackupError,
    Contents,
    Manifest,
    check_files,
    entry,
    mismatch,
    read_manifest,
    write_manifest,
)
from memory_store.db.database import Database, parse_url
from memory_store.db.namespaces import list_namespaces
from memory_store.db.schema import current_revision, head_revision, known_revisions
from memory_store.errors import StoreError
from memory_store.owners import has_ended, owner_tag
from memory_store.vectors.index import VectorIndex
from memory_store.vectors.index_file import IndexFile, database_index_dir
from memory_store.vectors.sync import counters, full_sync

log = logging.getLogger(__name__)

PREFIX = "rlem-backup-"
# A backup folder being written: `.NAME.PID@HOST.partial`, renamed to NAME when complete.
PARTIAL = ".partial"
# How long a restore waits for other connections to leave the target before refusing.
SWAP_WAIT_S = 10.0
Step = Callable[[str], None]


def no_report(_: str) -> None:
    """The default step reporter: silent."""


@dataclass(frozen=True)
class Backup:
    """A backup folder and its manifest."""

    path: Path
    manifest: Manifest


@dataclass(frozen=True)
class Restored:
    """What a restore replaced, and whether the restored database is ready for this rlem."""

    manifest: Manifest
    target: str
    replaced: Contents | None
    current: bool


def label(url: URL) -> str:
    """A URL as recorded in manifests: no password, so a backup never stores one."""
    return url.set(password=None).render_as_string(hide_password=False)


def create_backup(
    url: str, directory: Path, *, busy_timeout_s: float = 30.0, report: Step = no_report
) -> Backup:
    """Snapshot the database into a new backup folder inside `directory` (made if missing)."""
    parsed = parse_url(url)
    dialect = parsed.get_backend_name()
    created = datetime.now(UTC)
    name = PREFIX + created.strftime("%Y%m%dT%H%M%SZ")
    work = directory / f".{name}.{owner_tag()}{PARTIAL}"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        remove_stale_partials(directory)
        work.mkdir()
    except OSError as exc:
        raise BackupError(f"cannot write backups into {directory}: {exc.strerror}") from None
    try:
        if dialect == "sqlite":
            data = work / sqlite.DATA_FILE
            source = Path(str(parsed.database))
            if not source.is_file():
                raise BackupError(f"{source} does not exist: there is nothing to back up")
            report("copying the database")
            sqlite.snapshot(source, data, busy_timeout_s)
            report("checking the copy")
            contents = sqlite.check_file(data)
        else:
            data = work / postgres.DATA_FILE
            report("running pg_dump")
            contents = postgres.dump(parsed, data)
        if contents.schema_revision is None:
            raise BackupError(f"{label(parsed)} has no rlem schema: there is nothing to back up")
        report("writing checksums")
        manifest = Manifest(
            created_at=created,
            rlem_version=version("rlem"),
            dialect=dialect,
            source=label(parsed),
            data_file=data.name,
            contents=contents,
            files={data.name: entry(data)},
        )
        write_manifest(work, manifest)
        path = publish(work, directory / name)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return Backup(path, manifest)


def remove_stale_partials(directory: Path) -> list[Path]:
    """Remove the unfinished backup folders whose creating process has ended; return them."""
    stale = [
        path
        for path in directory.glob(f".{PREFIX}*{PARTIAL}")
        if path.is_dir() and has_ended(path.name[1 : -len(PARTIAL)].partition(".")[2])
    ]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
        log.info("removed %s, left by an interrupted backup", path)
    return stale


def publish(work: Path, final: Path) -> Path:
    """Rename the finished folder to `final`, or `final-2`, `final-3`... when that second is taken."""
    path, attempt = final, 1
    while True:
        try:
            work.rename(path)
            return path
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise BackupError(f"cannot move the backup into {path}: {exc.strerror}") from None
        attempt += 1
        path = final.with_name(f"{final.name}-{attempt}")


def backup_to_verify(path: Path) -> Path:
    """`path` when it is a backup folder (it has a manifest), else the newest backup in the folder of
    backups `path` (where `rlem backup create -o` writes); BackupError when that holds none."""
    if not path.is_dir() or (path / MANIFEST).exists():
        return path
    backups = list_backups(path)
    if not backups:
        raise BackupError(
            f"{path} holds no backup: pass a backup folder (rlem-backup-...) or a folder that "
            "`rlem backup create -o` wrote backups into"
        )
    return backups[-1].path


def verify_backup(path: Path, server: str | None = None, *, report: Step = no_report) -> Manifest:
    """Check every checksum, open the database copy, check its integrity and compare its counts.

    A PostgreSQL backup is restored into a scratch database on `server` (default: the server it
    came from), which is dropped afterwards.
    """
    manifest = read_manifest(path)
    report("checking checksums")
    check_files(path, manifest)
    data = path / manifest.data_file
    report("checking the database")
    if manifest.dialect == "sqlite":
        problem = mismatch(sqlite.check_file(data), manifest.contents)
        if problem is not None:
            raise BackupError(f"{path} does not match its manifest: {problem}")
    else:
        postgres.trial_restore(parse_url(server or manifest.source), data, manifest.contents)
    return manifest


def restore_backup(
    path: Path, url: str, *, force: bool = False, wait_s: float = SWAP_WAIT_S, report: Step = no_report
) -> Restored:
    """Restore a backup into the database at `url`; a target holding data needs `force`.

    The live data is replaced in one atomic step, only after the restored copy matched the manifest.
    """
    manifest = read_manifest(path)
    target = parse_url(url)
    dialect = target.get_backend_name()
    if dialect != manifest.dialect:
        raise BackupError(
            f"{path} is a {manifest.dialect} backup and cannot be restored into {dialect}: "
            "move memories across databases with `rlem memory export` and `rlem memory import`"
        )
    if manifest.contents.schema_revision not in known_revisions():
        raise BackupError(
            f"{path} has schema revision {manifest.contents.schema_revision}, which this rlem does not "
            "know: restore it with a newer rlem"
        )
    report("checking checksums")
    check_files(path, manifest)
    data = path / manifest.data_file
    if dialect == "sqlite":
        database = Path(str(target.database))
        replaced = sqlite.target_contents(database)
        refuse_unless_forced(label(target), replaced, force)
        report("restoring a copy beside the target")
        sqlite.restore(data, manifest.files[data.name].sha256, manifest.contents, database, wait_s)
    else:
        replaced = postgres.target_contents(target)
        refuse_unless_forced(label(target), replaced, force)
        report("restoring into a new database")
        postgres.restore(data, manifest.contents, target, replaced is not None, wait_s)
    report("rebuilding the vector index")
    try:
        current = rebuild_indexes(target)
    except StoreError as exc:
        raise BackupError(
            f"restored {label(target)}, but its vector index cannot be rebuilt: {exc}"
        ) from None
    return Restored(manifest, label(target), replaced, current)


def refuse_unless_forced(target: str, contents: Contents | None, force: bool) -> None:
    """Refuse to replace a database that holds states or tables of another program, unless forced."""
    if force or contents is None:
        return
    if contents.states:
        raise BackupError(
            f"{target} holds {contents.states} states in {len(contents.namespaces)} namespaces: "
            "add --force to replace them (back them up first)"
        )
    others = sorted(name for name in contents.tables if not name.startswith("rlem_"))
    if others:
        raise BackupError(
            f"{target} holds tables that are not rlem's ({', '.join(others)}): add --force to replace "
            "the whole database"
        )


def rebuild_indexes(url: URL) -> bool:
    """Replace the persisted FAISS indexes of the restored database by flat ones built from it.

    Returns False (leaving only the stale indexes removed) when the database needs `rlem db upgrade`.
    """
    db = Database(url)
    try:
        directory = database_index_dir(db)
        shutil.rmtree(directory, ignore_errors=True)
        with db.engine.connect() as connection:
            if current_revision(connection) != head_revision():
                return False
        for namespace in list_namespaces(db):
            index = VectorIndex(namespace.embedding_dim, "flat")
            with db.read() as session:
                point = full_sync(
                    session, namespace.id, namespace.embedding_dim, index, counters(session, namespace.id)
                )
            IndexFile(directory, namespace.id, "flat").save(
                index, namespace.embedding_model, point.counters.generation
            )
        return True
    finally:
        db.close()


def list_backups(directory: Path) -> list[Backup]:
    """The backups in a folder (subfolders with a valid manifest), oldest first."""
    if not directory.is_dir():
        raise BackupError(f"{directory} is not a folder")
    found = []
    for child in sorted(directory.iterdir()):
        if not child.is_dir() or child.name.startswith("."):
            continue
        try:
            found.append(Backup(child, read_manifest(child)))
        except BackupError as exc:
            if child.name.startswith(PREFIX):
                log.warning("skipping %s: %s", child, exc)
    return sorted(found, key=lambda backup: backup.manifest.created_at)


def prune_backups(directory: Path, keep: int) -> list[Backup]:
    """Delete all but the newest `keep` backups in the folder; return the deleted ones."""
    if keep < 1:
        raise BackupError(f"keep at least one backup, not {keep}")
    remove_stale_partials(directory)
    doomed = list_backups(directory)[:-keep]
    for backup in doomed:
        shutil.rmtree(backup.path)
    return doomed
