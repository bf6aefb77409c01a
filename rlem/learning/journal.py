"""The run journal: which of a run's training episodes have their updates committed.

A row goes into the same transaction as the episode's last updates, so after a crash a resumed
run knows exactly which episodes the memory holds and runs the others again.
"""

from __future__ import annotations

from sqlalchemy import select

from memory_store.db.models import RunEpisode
from memory_store.transaction import StoreTransaction
from rlem.errors import RlemError


def record_episode(tx: StoreTransaction, run_id: str, key: str) -> None:
    """Record, in this write transaction, that the run's episode `key` has its updates committed."""
    if not tx.writing:
        raise RlemError("the run journal is written in a write transaction")
    tx.session.add(RunEpisode(run_id=run_id, episode=key))


def committed(tx: StoreTransaction, run_id: str) -> set[str]:
    """The keys of the run's episodes whose updates are committed."""
    return set(tx.session.scalars(select(RunEpisode.episode).where(RunEpisode.run_id == run_id)))
