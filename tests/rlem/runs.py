"""A run's memory and its replay: the memory a database holds, the memory a training log replays
to, and the logged episodes whose updates committed."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from memory_store import ExperienceStore, StoreConfig
from memory_store.db.models import RunEpisode
from memory_store.formats.transfer import export_memory
from memory_store.store import open_database
from rlem.learning.learner import replay
from rlem.learning.qlearning import Rule
from rlem.learning.trajectory import read_episodes


def memory_of(url: str, namespace: str, path: Path) -> dict:
    with ExperienceStore.open(
        StoreConfig(url=url, namespace=namespace, persist_index=False), create=False
    ) as store:
        export_memory(store, path, "json")
    return json.loads(path.read_text())


def replayed_memory(
    training: list,
    tmp_path: Path,
    rule: Rule = Rule(n_step=None, gamma=0.9),
    retrieval_text: str = "observation",
) -> dict:
    """The export of a fresh database into which the training log was replayed (by default with the
    settings the run tests use: full returns, gamma 0.9, and random maps matching states on the
    observation)."""
    fresh = f"sqlite:///{tmp_path / 'replayed.db'}"
    config = StoreConfig(url=fresh, persist_index=False, retrieval_text=retrieval_text)
    with ExperienceStore.open(config) as store:
        replay(store, training, rule)
    return memory_of(fresh, "default", tmp_path / "replayed.json")


def committed_training(db_url: str, out: Path) -> list:
    """The run's logged training episodes whose updates committed (those with a run journal row)."""
    if not (out / "config.json").exists() or not (out / "trajectories.jsonl").exists():
        return []
    run_id = json.loads((out / "config.json").read_text())["run_id"]
    db = open_database(db_url, create=False)
    try:
        with db.read() as session:
            journaled = set(session.scalars(select(RunEpisode.episode).where(RunEpisode.run_id == run_id)))
    finally:
        db.close()
    return [t for t in read_episodes(out / "trajectories.jsonl") if t.run_key in journaled]
