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


def test_an_index_saved_before_later_changes_is_rebuilt_with_them(config, embedder, caplog):
    fill(config, embedder, ROOMS)
    saved = (config.index_dir / "ns-1-flat.faiss").read_bytes()
    unsaved = config.model_copy(update={"persist_index": False})
    with ExperienceStore.open(unsaved, embedder=embedder) as store:
        store.delete([store.get(TASK, ROOMS[0]).id])
        store.apply([Update(TASK, "The attic is full of cobwebs.", "clean", target=1.0, reward=1.0)])
    assert (config.index_dir / "ns-1-flat.faiss").read_bytes() == saved
    with caplog.at_level(logging.WARNING), ExperienceStore.open(config, embedder=embedder) as store:
        found = observations_found(store, "The attic is full of cobwebs.")
    assert "built from other contents" in caplog.text
    assert sorted(found) == sorted([*ROOMS[1:], "The attic is full of cobwebs."])


def test_an_index_file_of_another_database_is_not_used(tmp_path, embedder, caplog):
    shared = tmp_path / "shared-indexes"
    first = StoreConfig(url=f"sqlite:///{tmp_path / 'a.db'}", index_dir=shared)
    second = StoreConfig(url=f"sqlite:///{tmp_path / 'b.db'}", index_dir=shared)
    fill(first, embedder, ROOMS)
    with caplog.at_level(logging.WARNING), ExperienceStore.open(second, embedder=embedder) as store:
        assert "built from other contents" in caplog.text
        assert len(store.index) == 0
        assert store.top_k(TASK, ROOMS[0]) == []


def test_hnsw_stores_persist_and_answer_like_flat(db_url, index_dir, embedder):
    config = StoreConfig(url=db_url, index_dir=index_dir, index_kind="hnsw")
    fill(config, embedder, ROOMS)
    assert (index_dir / "ns-1-hnsw.faiss").exists()
    with ExperienceStore.open(config, embedder=embedder) as store:
        assert observations_found(store, ROOMS[1], k=1) == [ROOMS[1]]


def test_another_database_copied_over_the_file_is_not_served_the_old_index(tmp_path, embedder, caplog):
    # Two copies of one database diverge: same namespace (id, creation time), same state ids and
    # counts, other vectors. Copying one over the other must not reuse the first one's index.
    here, other = tmp_path / "x.db", tmp_path / "other.db"
    fill(StoreConfig(url=f"sqlite:///{here}"), embedder, ROOMS[:1])
    other.write_bytes(here.read_bytes())
    fill(StoreConfig(url=f"sqlite:///{here}"), embedder, ROOMS[1:])
    others = ["The porch is wet.", "The cellar is flooded."]
    fill(StoreConfig(url=f"sqlite:///{other}", persist_index=False), embedder, others)
    here.write_bytes(other.read_bytes())
    config = StoreConfig(url=f"sqlite:///{here}")
    with caplog.at_level(logging.WARNING), ExperienceStore.open(config, embedder=embedder) as store:
        assert "built from other contents" in caplog.text
        for observation in [ROOMS[0], *others]:
            assert observations_found(store, observation, k=1) == [observation]
    caplog.clear()
    # The rebuilt index was saved at the copy's generation, and is used from then on.
    with caplog.at_level(logging.WARNING), ExperienceStore.open(config, embedder=embedder) as store:
        assert observations_found(store, others[1], k=1) == [others[1]]
    assert "ignoring index file" not in caplog.text


@pytest.mark.parametrize("sidecar", ["[]", "null", "42", '{"format": []}'])
def test_a_sidecar_that_is_not_an_object_is_ignored(config, embedder, caplog, sidecar):
    fill(config, embedder, ROOMS)
    (config.index_dir / "ns-1-flat.json").write_text(sidecar)
    with caplog.at_level(logging.WARNING), ExperienceStore.open(config, embedder=embedder) as store:
        assert "ignoring index file" in caplog.text
        assert observations_found(store, ROOMS[2], k=1) == [ROOMS[2]]


def test_a_folder_where_the_index_file_should_be_is_worked_around(config, embedder, caplog):
    fill(config, embedder, ROOMS)
    path = config.index_dir / "ns-1-flat.faiss"
    path.unlink()
    path.mkdir()
    with caplog.at_level(logging.WARNING), ExperienceStore.open(config, embedder=embedder) as store:
        assert observations_found(store, ROOMS[0], k=1) == [ROOMS[0]]
    assert "ignoring index file" in caplog.text
    assert "could not save the index" in caplog.text
    assert path.is_dir()
