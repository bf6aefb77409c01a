"""The persisted index is a cache: reused when current, rebuilt when missing, stale or corrupt."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from memory_store import ExperienceStore, StoreConfig, Update

TASK = "Tidy the house."
ROOMS = ["The kitchen is messy.", "The bedroom is dusty.", "The garage is full of boxes."]


def fill(config: StoreConfig, embedder, observations) -> None:
    with ExperienceStore.open(config, embedder=embedder) as store:
        store.apply([Update(TASK, o, "clean", target=1.0, reward=1.0) for o in observations])


def observations_found(store: ExperienceStore, query: str, k: int = 10) -> list[str]:
    return [hit.experience.observation for hit in store.top_k(TASK, query, k=k)]


@pytest.fixture
def config(db_url: str, index_dir: Path) -> StoreConfig:
    return StoreConfig(url=db_url, index_dir=index_dir)


def test_closing_saves_the_index_and_reopening_uses_it(config, embedder, caplog):
    fill(config, embedder, ROOMS)
    files = sorted(p.name for p in config.index_dir.iterdir())
    assert files == ["ns-1-flat.faiss", "ns-1-flat.json"]
    assert json.loads((config.index_dir / "ns-1-flat.json").read_text())["count"] == 3
    with caplog.at_level(logging.WARNING), ExperienceStore.open(config, embedder=embedder) as store:
        assert len(store.index) == 3
        assert observations_found(store, ROOMS[1])[0] == ROOMS[1]
    assert "ignoring index file" not in caplog.text


def test_a_corrupt_index_file_is_detected_and_rebuilt(config, embedder, caplog):
    fill(config, embedder, ROOMS)
    path = config.index_dir / "ns-1-flat.faiss"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING), ExperienceStore.open(config, embedder=embedder) as store:
        assert "checksum mismatch" in caplog.text
        assert sorted(observations_found(store, ROOMS[0])) == sorted(ROOMS)


def test_a_truncated_index_file_is_detected_and_rebuilt(config, embedder, caplog):
    fill(config, embedder, ROOMS)
    (config.index_dir / "ns-1-flat.faiss").write_bytes(b"\x00" * 10)
    with caplog.at_level(logging.WARNING), ExperienceStore.open(config, embedder=embedder) as store:
        assert "ignoring index file" in caplog.text
        assert len(store.index) == 3


def test_a_missing_index_file_is_rebuilt(config, embedder):
    fill(config, embedder, ROOMS)
    (config.index_dir / "ns-1-flat.faiss").unlink()
    with ExperienceStore.open(config, embedder=embedder) as store:
        assert observations_found(store, ROOMS[2])[0] == ROOMS[2]


def test_a_stale_index_file_catches_up_with_the_database(config, embedder):
    fill(config, embedder, ROOMS)
    saved = (config.index_dir / "ns-1-flat.faiss").read_bytes()
    unsaved = config.model_copy(update={"persist_index": False})
    with ExperienceStore.open(unsaved, embedder=embedder) as store:
        store.delete([store.get(TASK, ROOMS[0]).id])
        store.apply([Update(TASK, "The attic is full of cobwebs.", "clean", target=1.0, reward=1.0)])
    assert (config.index_dir / "ns-1-flat.faiss").read_bytes() == saved
    with ExperienceStore.open(config, embedder=embedder) as store:
        found = observations_found(store, "The attic is full of cobwebs.")
    assert sorted(found) == sorted([*ROOMS[1:], "The attic is full of cobwebs."])


def test_an_index_file_of_another_database_is_not_used(tmp_path, embedder, caplog):
    shared = tmp_path / "shared-indexes"
    first = StoreConfig(url=f"sqlite:///{tmp_path / 'a.db'}", index_dir=shared)
    second = StoreConfig(url=f"sqlite:///{tmp_path / 'b.db'}", index_dir=shared)
    fill(first, embedder, ROOMS)
    with caplog.at_level(logging.WARNING), ExperienceStore.open(second, embedder=embedder) as store:
        assert "built for another database" in caplog.text
        assert len(store.index) == 0
        assert store.top_k(TASK, ROOMS[0]) == []


def test_hnsw_stores_persist_and_answer_like_flat(db_url, index_dir, embedder):
    config = StoreConfig(url=db_url, index_dir=index_dir, index_kind="hnsw")
    fill(config, embedder, ROOMS)
    assert (index_dir / "ns-1-hnsw.faiss").exists()
    with ExperienceStore.open(config, embedder=embedder) as store:
        assert observations_found(store, ROOMS[1], k=1) == [ROOMS[1]]
