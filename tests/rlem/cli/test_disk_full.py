"""A full disk, made real with a small tmpfs: one line, exit 1, nothing half-written, and the same
command finishes the job once there is room again.

Mounting needs root (CAP_SYS_ADMIN); where the mount is refused these tests skip and say so.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli import one_line_error, rlem
from tests.rlem.cli.parcels import contents, fill, parcels
from tests.rlem.runs import committed_training, memory_of, replayed_memory

pytestmark = pytest.mark.slow

SMALL = "256k"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A folder on a tmpfs of 256 KiB, unmounted afterwards."""
    folder = tmp_path / "small"
    folder.mkdir()
    try:
        mount = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={SMALL}", "tmpfs", str(folder)],
            capture_output=True,
            text=True,
        )
    except FileNotFoundError:
        pytest.skip("no `mount` command here, so no small disk to fill")
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill ({mount.stderr.strip()}); these tests need root")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=False)


def grow(folder: Path) -> None:
    """Give the small disk room (as a user freeing space would)."""
    subprocess.run(["mount", "-o", "remount,size=64m", str(folder)], check=True)


def test_a_run_on_a_full_disk_stops_with_one_line_and_resumes_exactly_once_there_is_room(
    small_disk, tmp_path
):
    db = f"sqlite:///{small_disk / 'memory.db'}"
    out = tmp_path / "out"
    args = ["run", "--policy", "memory-greedy", "--env", "frozenlake:4x4:random", "--epochs", "1"]
    args += ["--train-tasks", "0-29", "--test-tasks", "100-101", "--gamma", "0.9", "--n-step", "none"]
    args += ["--db", db, "--out", str(out)]
    full = rlem(*args)
    assert full.returncode == 1, full.stderr
    error = full.stderr.splitlines()[-1]
    assert error.startswith("error: the database's disk is full: free some space and run again"), full.stderr
    assert full.stderr.count("\n") == 1, full.stderr
    committed = committed_training(db, out)
    assert 0 < len(committed) < 30
    (tmp_path / "partial").mkdir()
    assert memory_of(db, "default", tmp_path / "memory.json") == replayed_memory(
        committed, tmp_path / "partial"
    )

    grow(small_disk)
    finished = rlem(*args)
    assert finished.returncode == 0, finished.stderr
    training = committed_training(db, out)
    assert len(training) == 30
    (tmp_path / "final").mkdir()
    assert memory_of(db, "default", tmp_path / "memory.json") == replayed_memory(training, tmp_path / "final")


def test_an_import_export_or_backup_on_a_full_disk_is_one_line_and_leaves_nothing(small_disk, tmp_path):
    db = fill(f"sqlite:///{tmp_path / 'memory.db'}", parcels(2_000, vectors=True))
    before = contents(db)
    exported = tmp_path / "memory.json"
    assert rlem("memory", "export", "--db", db, "-n", "parcels", "-o", str(exported)).returncode == 0
    small_db = f"sqlite:///{small_disk / 'small.db'}"
    one_line_error(rlem("memory", "import", str(exported), "--db", small_db, "-n", "parcels"), "disk is full")
    assert contents(small_db) == {"parcels": []}
    for path in small_disk.iterdir():
        path.unlink() if path.is_file() else shutil.rmtree(path)
    one_line_error(
        rlem("memory", "export", "--db", db, "-n", "parcels", "-o", str(small_disk / "memory.json")),
        "no space left on the device: free some and run again",
    )
    one_line_error(rlem("backup", "create", "--db", db, "-o", str(small_disk)), "disk is full")
    assert list(small_disk.iterdir()) == []
    assert contents(db) == before

    grow(small_disk)
    assert (
        rlem(
            "memory", "export", "--db", db, "-n", "parcels", "-o", str(small_disk / "memory.json")
        ).returncode
        == 0
    )
    assert rlem("backup", "create", "--db", db, "-o", str(small_disk)).returncode == 0
