"""Backups over HTTP: create, list and verify, in the server's `--backup-dir` (the functions of
`rlem backup`). A backup holds every namespace, so these need an admin key for all (`*`)."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from memory_store.backup import Manifest, create_backup, list_backups, verify_backup
from rlem.service.auth import Caller, allowed_everywhere
from rlem.service.errors import not_found

router = APIRouter(tags=["backups"])
# A backup's name as `create` makes it: nothing that could leave the backup folder.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}")


class BackupInfo(BaseModel):
    """A backup by name, and its manifest."""

    name: str
    manifest: Manifest


def folder(request: Request) -> Path:
    """The server's backup folder."""
    return request.app.state.service.config.backup_dir


@router.get("/v1/backups", response_model=list[BackupInfo])
def backups(request: Request, who: Caller = Depends(allowed_everywhere("admin"))) -> list[BackupInfo]:
    """The backups in the server's backup folder, oldest first."""
    if not folder(request).is_dir():
        return []
    return [BackupInfo(name=b.path.name, manifest=b.manifest) for b in list_backups(folder(request))]


@router.post("/v1/backups", response_model=BackupInfo, status_code=201)
def create(request: Request, who: Caller = Depends(allowed_everywhere("admin"))) -> BackupInfo:
    """Snapshot the database while agents keep writing, with a manifest of counts and checksums."""
    made = create_backup(request.app.state.service.config.db, folder(request))
    return BackupInfo(name=made.path.name, manifest=made.manifest)


@router.post("/v1/backups/{name}/verify", response_model=BackupInfo)
def verify(name: str, request: Request, who: Caller = Depends(allowed_everywhere("admin"))) -> BackupInfo:
    """Check every checksum, open the copy, check its integrity and compare its counts."""
    path = folder(request) / name
    if not NAME.fullmatch(name) or not (path / "manifest.json").is_file():
        raise not_found(f"no backup {name!r} in the server's backup folder")
    return BackupInfo(name=name, manifest=verify_backup(path))
