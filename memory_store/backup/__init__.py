"""Online backups of a memory database: backup folders, their manifests, SQLite and PostgreSQL copies."""

from memory_store.backup.folders import (
    Backup,
    Restored,
    backup_to_verify,
    create_backup,
    list_backups,
    prune_backups,
    restore_backup,
    verify_backup,
)
from memory_store.backup.manifest import BackupError, Manifest

__all__ = [
    "Backup",
    "BackupError",
    "Manifest",
    "Restored",
    "backup_to_verify",
    "create_backup",
    "list_backups",
    "prune_backups",
    "restore_backup",
    "verify_backup",
]
