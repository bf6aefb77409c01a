"""rlem's SQLite writers in different processes queue on the lock file beside the database."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

from sqlalchemy import text

from memory_store.store import open_database


def write_once(url: str, done) -> None:
    """A writer in another process: one write transaction, then say so."""
    db = open_database(url)
    done.put("opened")
    db.write(lambda session: session.execute(text("CREATE TABLE IF NOT EXISTS marks (n INTEGER)")))
    done.put("written")
    db.close()


def test_a_writer_of_another_process_waits_for_the_turn_to_end(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'memory.db'}"
    db = open_database(url)
    spawn = multiprocessing.get_context("spawn")
    done = spawn.Queue()
    assert db.writers is not None
    with db.writers.turn():
        writer = spawn.Process(target=write_once, args=(url, done))
        writer.start()
        assert done.get(timeout=60) == "opened"
        time.sleep(0.5)
        assert done.empty(), "the other process wrote while this one held the writers' turn"
    assert done.get(timeout=60) == "written"
    writer.join(30)
    assert (tmp_path / "memory.db-writer.lock").exists()
    db.close()
