"""Re-embedding with another model: all states get new vectors, the switch is atomic, failures leave
the old namespace as it was."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from memory_store import ExperienceStore, SentenceTransformerEmbedder, StoreConfig, Update
from memory_store.admin import audit
from memory_store.admin.audit import audit_log
from memory_store.admin.inspection import namespace_summaries
from memory_store.admin.reembed import reembed
from memory_store.errors import EmbeddingMismatch, InvalidArgument
from memory_store.store import open_database
from tests.dense_model import DENSE_DIM
from tests.memory_store.filling import STATES, TASK, fill


class FailingEmbedder:
    """Embeds with another embedder until its `calls`-th call, which raises (a crash halfway)."""

    def __init__(self, inner: SentenceTransformerEmbedder, calls: int):
        self.inner, self.calls = inner, calls
        self.model_name, self.dim = inner.model_name, inner.dim

    def embed(self, texts):
        self.calls -= 1
        if self.calls == 0:
            raise RuntimeError("killed halfway")
        return self.inner.embed(texts)


@pytest.fixture
def config(db_url: str, index_dir: Path) -> StoreConfig:
    return StoreConfig(url=db_url, index_dir=index_dir)


@pytest.fixture
def filled(config, embedder) -> dict[str, int]:
    """STATES written with MiniLM, plus a second Q table; the state ids by observation."""
    with (
        ExperienceStore.open(config, embedder=embedder) as store,
        store.open_sibling("default~q2", internal=True) as second,
    ):
        fill(second)
        return fill(store)


def test_reembedding_switches_model_dimension_and_keeps_everything_else(config, embedder, dense, filled):
    with ExperienceStore.open(config, embedder=embedder) as store:
        before = store.records()
    db = open_database(config.url)
    try:
        done = reembed(db, ["default", "default~q2"], dense, index_dir=config.index_dir)
        summaries = {s.name: s for s in namespace_summaries(db, config.index_dir)}
        rows = audit_log(db)
    finally:
        db.close()
    assert [(r.name, r.states, r.old_dim, r.new_dim) for r in done] == [
        ("default", 4, 384, DENSE_DIM),
        ("default~q2", 4, 384, DENSE_DIM),
    ]
    assert set(summaries) == {"default", "default~q2"}
    # The model is recorded by its folder's name and a digest of its files.
    assert summaries["default"].embedding_model == dense.model_name
    assert dense.model_name.startswith("minilm-dense-128@")
    assert summaries["default"].embedding_dim == DENSE_DIM
    with pytest.raises(EmbeddingMismatch, match="minilm-dense-128.*rlem memory reembed"):
        ExperienceStore.open(config, embedder=embedder)
    with ExperienceStore.open(config, embedder=dense) as store:
        # Same ids, visits, actions and Q values: only the vectors changed.
        assert store.records() == before
        for observation, (task, _) in STATES.items():
            hit = store.top_k(task, observation, k=1)[0]
            assert hit.experience.id == filled[observation]
            assert hit.similarity == pytest.approx(1.0, abs=1e-5)
        stored = store.nearest(store.embed(TASK, "A cart of returned books."), k=4)
        assert stored[0].experience.observation == "A cart full of returned books."
        assert store.index.dim == DENSE_DIM
    assert [(r.command, r.namespace, r.old_value, r.new_value) for r in rows] == [
        (
            "reembed",
            "default~q2",
            {"model": "all-MiniLM-L6-v2", "dim": 384},
            {"model": dense.model_name, "dim": 128, "states": 4},
        ),
        (
            "reembed",
            "default",
            {"model": "all-MiniLM-L6-v2", "dim": 384},
            {"model": dense.model_name, "dim": 128, "states": 4},
        ),
    ]


def test_a_crash_halfway_leaves_the_old_namespace_intact_and_usable(
    config, embedder, dense, filled, monkeypatch
):
    monkeypatch.setattr("memory_store.admin.reembed.CHUNK", 2)
    db = open_database(config.url)
    try:
        with pytest.raises(RuntimeError, match="killed halfway"):
            reembed(db, ["default"], FailingEmbedder(dense, calls=2), index_dir=config.index_dir)
        assert {s.name for s in namespace_summaries(db)} == {"default", "default~q2"}
    finally:
        db.close()
    assert_intact(config, embedder, filled)


def test_a_failing_switch_changes_nothing(config, embedder, dense, filled, monkeypatch):
    record = audit.record

    def broken(session, command, *args, **kwargs) -> None:
        if command == "reembed":
            raise RuntimeError("the audit row cannot be written")
        record(session, command, *args, **kwargs)

    monkeypatch.setattr("memory_store.admin.audit.record", broken)
    db = open_database(config.url)
    try:
        with pytest.raises(RuntimeError, match="audit row"):
            reembed(db, ["default", "default~q2"], dense, index_dir=config.index_dir)
        assert {s.name for s in namespace_summaries(db)} == {"default", "default~q2"}
    finally:
        db.close()
    assert_intact(config, embedder, filled)


def assert_intact(config: StoreConfig, embedder, filled: dict[str, int]) -> None:
    """The namespace still opens with MiniLM and retrieves its states."""
    with ExperienceStore.open(config, embedder=embedder) as store:
        assert len(store) == 4
        hit = store.top_k(TASK, "The archive door is locked.", k=1)[0]
        assert hit.experience.id == filled["The archive door is locked."]


def test_leftovers_of_a_killed_run_are_cleared_and_late_states_caught_up(config, embedder, dense, filled):
    db = open_database(config.url)
    try:
        # What a process killed while staging leaves behind: a staging namespace with some vectors,
        # named for its process, which has ended; and one of a process on another machine.
        ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
        dead = f"default~reembed-0badcafe-{int(ended.stdout)}@{socket.gethostname()}"
        elsewhere = "default~reembed-0badcafe-1@another-machine"
        for name in (dead, elsewhere):
            with ExperienceStore.open(
                config.model_copy(update={"namespace": name}), embedder=dense, internal=True
            ) as s:
                s.apply([Update(TASK, "The reading room is quiet.", "read", 1.0, 1.0)])
        late = "A new shelf arrived."

        class Concurrent:
            """Adds a state to the live namespace while the first chunk is being embedded."""

            model_name, dim, added = dense.model_name, dense.dim, False

            def embed(self, texts):
                if not self.added:
                    self.added = True
                    with ExperienceStore.open(config, embedder=embedder) as writer:
                        writer.apply([Update(TASK, late, "shelve", 1.0, 1.0)])
                return dense.embed(texts)

        [done] = reembed(db, ["default"], Concurrent(), index_dir=config.index_dir)
        # Only the ended process's staging is removed, and its removal is audited.
        assert {s.name for s in namespace_summaries(db)} == {"default", "default~q2", elsewhere}
        assert sorted((r.command, r.namespace) for r in audit_log(db)) == [
            ("delete-namespace", dead),
            ("reembed", "default"),
        ]
    finally:
        db.close()
    assert done.states == 5
    with ExperienceStore.open(config, embedder=dense) as store:
        assert len(store) == 5
        hit = store.top_k(TASK, late, k=1)[0]
        assert hit.experience.observation == late and hit.similarity == pytest.approx(1.0, abs=1e-5)


def test_a_user_cannot_create_a_name_that_looks_like_rlems_own(config, embedder, filled):
    # Were this allowed, cleaning up after a re-embedding could mistake it for a leftover.
    for name in ("default~reembed-mine", "default~q2x", "~"):
        with pytest.raises(InvalidArgument, match="marks rlem's own namespaces"):
            ExperienceStore.open(config.model_copy(update={"namespace": name}), embedder=embedder)
    db = open_database(config.url)
    try:
        assert {s.name for s in namespace_summaries(db)} == {"default", "default~q2"}
    finally:
        db.close()
