"""An output folder claimed by one process at a time.

The lock is an OS file lock (`filelock`) on `<folder>/.rlem.lock`: the kernel releases it when the
holder exits, however it exits, so a killed run never leaves its folder locked.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from filelock import FileLock, Timeout

from rlem.errors import RlemError

LOCK_NAME = ".rlem.lock"


class FolderLock:
    """Hold `folder` (created if missing) for this process, or fail at once if another holds it."""

    def __init__(self, folder: Path, what: str = "run"):
        self.folder = folder
        # The folders this lock makes, innermost first: runs/latest, and runs/ if it was missing too.
        self.made = [p for p in (folder, *folder.parents) if not p.exists()]
        folder.mkdir(parents=True, exist_ok=True)
        self.lock = FileLock(folder / LOCK_NAME)
        try:
            self.lock.acquire(timeout=0)
        except Timeout:
            self.abandon()
            raise RlemError(
                f"{folder} is in use by another rlem {what}: wait for it to finish, or give another --out"
            ) from None

    def release(self) -> None:
        """Let another process claim the folder."""
        self.lock.release()

    def abandon(self) -> None:
        """Release the folder and remove it again if this process made it and wrote nothing else."""
        if self.lock.is_locked:
            self.lock.release()
        if self.made and {p.name for p in self.folder.iterdir()} <= {LOCK_NAME}:
            shutil.rmtree(self.folder, ignore_errors=True)
            for parent in self.made[1:]:  # while empty: another process may have put a folder there
                try:
                    parent.rmdir()
                except OSError:
                    break
