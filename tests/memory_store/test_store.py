"""The experience store through its public interface, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from memory_store import Averaging, ExperienceStore, StoreConfig, Update
from memory_store.config import Capacity
from memory_store.errors import (
    EmbeddingMismatch,
    InvalidArgument,
    InvalidVector,
    ReadOnlyTransaction,
    UnknownNamespace,
)
from memory_store.vectors.embedder import SentenceTransformerEmbedder, packaged_model_path

TASK = "Find the key and open the chest."


def update(observation: str, action: str, target: float, **fields) -> Update:
    """An update in the test task."""
    return Update(TASK, observation, action, target=target, reward=fields.pop("reward", target), **fields)


@pytest.fixture
def store(db_url: str, embedder, index_dir: Path):
    """An open store on a fresh database."""
    with ExperienceStore.open(StoreConfig(url=db_url, index_dir=index_dir), embedder=embedder) as opened:
        yield opened


def test_mean_mode_averages_q_and_reward_over_visits(store):
    for target in (1.0, 0.0, 0.5, 2.0):
        store.apply([update("You are in a hall.", "go north", target, reward=target / 2)])
    record = store.get(TASK, "You are in a hall.")
    action = record.action("go north")
    assert (record.visits, action.visits) == (4, 4)
    assert action.q == pytest.approx(0.875, abs=1e-12)
    assert action.reward == pytest.approx(0.4375, abs=1e-12)


def test_const_mode_moves_q_from_zero_at_the_learning_rate(store):
    for target in (1.0, 1.0):
        store.apply([update("You are in a hall.", "go north", target)], mode=Averaging.CONST, lr=0.5)
    # q: 0 -> 0.5 -> 0.75
    assert store.get(TASK, "You are in a hall.").action("go north").q == pytest.approx(0.75)


def test_state_keeps_averaged_arrival_rewards_and_the_shortest_history(store):
    store.apply(
        [
            update(
                "A dark cellar.",
                "light lamp",
                1.0,
                last_reward=1.0,
                total_reward=3.0,
                action_history=("a", "b", "c"),
            )
        ]
    )
    store.apply(
        [update("A dark cellar.", "go up", 0.0, last_reward=0.0, total_reward=1.0, action_history=("d",))]
    )
    store.apply(
        [update("A dark cellar.", "go up", 0.0, last_reward=0.5, total_reward=2.0, action_history=("e", "f"))]
    )
    record = store.get(TASK, "A dark cellar.")
    assert record.visits == 3
    assert record.last_reward == pytest.approx(0.5)
    assert record.total_reward == pytest.approx(2.0)
    assert record.action_history == ("d",)
    assert {a.action: a.visits for a in record.actions} == {"light lamp": 1, "go up": 2}


def test_states_are_identified_exactly_by_task_and_observation(store):
    store.apply([update("A hall.", "wait", 1.0), Update("Another task.", "A hall.", "wait", 1.0, 1.0)])
    assert len(store) == 2
    assert store.get(TASK, "A hall.").visits == 1


def test_top_k_ranks_by_similarity_and_returns_action_values(store):
    observations = [
        "You are in the kitchen. There is a knife on the table.",
        "You are in the kitchen. A knife lies on the counter.",
        "You are in the garden. Roses grow along the fence.",
        "You are in the attic. Dust covers an old chest.",
    ]
    store.apply([update(o, "look", float(i)) for i, o in enumerate(observations)])
    hits = store.top_k(TASK, "You are in the kitchen. There is a knife on the table.", k=3)
    assert [h.experience.observation for h in hits][:2] == observations[:2]
    assert hits[0].similarity == pytest.approx(1.0, abs=1e-5)
    assert hits[0].similarity >= hits[1].similarity >= hits[2].similarity
    assert hits[1].experience.action("look").q == pytest.approx(1.0)
    again = store.top_k(TASK, "You are in the kitchen. There is a knife on the table.", k=3)
    assert [h.experience.id for h in again] == [h.experience.id for h in hits]


def test_top_k_on_an_empty_store_returns_nothing(store):
    assert store.top_k(TASK, "anything", k=5) == []


def test_deleted_states_are_never_returned_even_by_another_open_store(store, db_url, embedder, index_dir):
    store.apply([update(f"Room number {i}.", "look", 0.0) for i in range(5)])
    assert len(store.top_k(TASK, "Room number 3.", k=5)) == 5
    config = StoreConfig(url=db_url, index_dir=index_dir, persist_index=False)
    with ExperienceStore.open(config, embedder=embedder) as other:
        victim = other.get(TASK, "Room number 3.").id
        assert other.delete([victim]) == 1
    hits = store.top_k(TASK, "Room number 3.", k=5)
    assert victim not in [h.experience.id for h in hits]
    assert len(hits) == 4


def test_states_written_by_another_store_are_found(store, db_url, embedder, index_dir):
    store.top_k(TASK, "warm up the index", k=1)
    config = StoreConfig(url=db_url, index_dir=index_dir, persist_index=False)
    with ExperienceStore.open(config, embedder=embedder) as other:
        other.apply([update("A secret passage behind the bookcase.", "enter", 1.0)])
    hits = store.top_k(TASK, "A secret passage behind the bookcase.", k=1)
    assert hits[0].experience.observation == "A secret passage behind the bookcase."


def test_an_update_to_a_state_deleted_since_by_another_store_recreates_it(store, db_url, embedder, index_dir):
    store.apply([update("A locked cellar.", "knock", 1.0)])
    config = StoreConfig(url=db_url, index_dir=index_dir, persist_index=False)
    with ExperienceStore.open(config, embedder=embedder) as other:
        assert other.delete([other.get(TASK, "A locked cellar.").id]) == 1
    (outcome,) = store.apply([update("A locked cellar.", "pick the lock", 0.5)])
    again = store.get(TASK, "A locked cellar.")
    assert outcome.status == "updated" and outcome.state_id == again.id
    assert again.visits == 1 and [(a.action, a.q) for a in again.actions] == [("pick the lock", 0.5)]
    assert store.top_k(TASK, "A locked cellar.", k=1)[0].experience.id == again.id


@pytest.mark.parametrize("mode", ["mean", "const"])
def test_one_batch_applies_exactly_what_the_same_updates_one_by_one_do(db_url, embedder, index_dir, mode):
    """Repeated states and actions within one transaction, actions pruned and states evicted in it."""
    rng = np.random.default_rng(7)
    rooms, actions = [f"Room {i}." for i in range(6)], ["north", "south", "east", "west"]
    updates = [update(str(rng.choice(rooms)), str(rng.choice(actions)), float(rng.random()),
                      reward=float(rng.random()), last_reward=float(rng.random()),
                      action_history=tuple(str(a) for a in rng.choice(actions, int(rng.integers(4)))))
               for _ in range(80)]  # fmt: skip
    capacity = Capacity(max_states=4, max_actions=2)
    seen = []
    for name, batches in (("one-by-one", [[u] for u in updates]), ("batched", [updates[:50], updates[50:]])):
        config = StoreConfig(url=db_url, namespace=name, index_dir=index_dir, capacity=capacity)
        with ExperienceStore.open(config, embedder=embedder) as opened:
            outcomes = [o for batch in batches for o in opened.apply(batch, mode=Averaging(mode), lr=0.3)]
            records = opened.records()
        seen.append(([(o.status, o.evicted_action) for o in outcomes], [
            (r.observation, r.visits, r.last_reward, r.total_reward, r.action_history,
             [(a.action, a.q, a.reward, a.visits) for a in r.actions]) for r in records]))  # fmt: skip
    assert seen[0] == seen[1]
    assert any(action for _, action in seen[0][0]) and len(seen[0][1]) == 4  # pruned and evicted


def test_a_failing_update_in_a_batch_writes_nothing(store):
    good = update("A quiet library.", "read", 1.0)
    bad = Update(TASK, "A noisy market.", None, target=1.0, reward=1.0)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="action must be text, got NoneType"):
        store.apply([good, bad])
    assert len(store) == 0
    assert store.get(TASK, "A quiet library.") is None


def test_bad_arguments_are_refused_before_anything_is_written(store):
    with pytest.raises(InvalidArgument, match="learning rate"):
        store.apply([update("A hall.", "wait", 1.0)], mode=Averaging.CONST, lr=0.0)
    with pytest.raises(InvalidArgument, match="k must be positive"):
        store.top_k(TASK, "A hall.", k=0)
    with pytest.raises(InvalidVector, match=r"shape \(n, 384\)"):
        store.nearest(np.ones(12, np.float32))
    with pytest.raises(InvalidVector, match="NaN"):
        store.nearest(np.full(384, np.nan, np.float32))
    assert len(store) == 0


def test_opening_a_namespace_with_another_embedding_model_is_refused(db_url, index_dir, embedder):
    with ExperienceStore.open(StoreConfig(url=db_url, index_dir=index_dir), embedder=embedder):
        pass
    other = SentenceTransformerEmbedder(packaged_model_path(), name="some-other-model")
    with pytest.raises(EmbeddingMismatch, match="all-MiniLM-L6-v2.*some-other-model"):
        ExperienceStore.open(StoreConfig(url=db_url, index_dir=index_dir), embedder=other)


def test_a_namespace_retrieving_by_observation_matches_it_whatever_the_task(db_url, index_dir, embedder):
    config = StoreConfig(url=db_url, index_dir=index_dir, retrieval_text="observation")
    with ExperienceStore.open(config, embedder=embedder) as store:
        store.apply([Update("Map one.", "A hole to the left.", "right", target=1.0, reward=0.0)])
        hit = store.top_k("Map two, quite different.", "A hole to the left.", k=1)[0]
        assert hit.similarity == pytest.approx(1.0, abs=1e-5) and hit.experience.task == "Map one."
        sibling = store.open_sibling("default~q2", internal=True)
        assert sibling.namespace.retrieval_text == "observation"
        sibling.close()
    # Left unset, the namespace's own setting is taken; a different one is refused.
    with ExperienceStore.open(StoreConfig(url=db_url, index_dir=index_dir), embedder=embedder) as again:
        assert again.namespace.retrieval_text == "observation"
    both = StoreConfig(url=db_url, index_dir=index_dir, retrieval_text="task+observation")
    with pytest.raises(EmbeddingMismatch, match="embedding the observation text, not the task"):
        ExperienceStore.open(both, embedder=embedder)


def test_an_unknown_namespace_is_refused_when_not_creating(db_url, index_dir, embedder):
    with ExperienceStore.open(StoreConfig(url=db_url, index_dir=index_dir), embedder=embedder):
        pass
    config = StoreConfig(url=db_url, index_dir=index_dir, namespace="nope")
    with pytest.raises(UnknownNamespace, match="'nope' does not exist.*namespaces there: default"):
        ExperienceStore.open(config, embedder=embedder, create=False)


def test_namespaces_are_separate_memories(db_url, index_dir, embedder):
    first = StoreConfig(url=db_url, index_dir=index_dir, namespace="first")
    second = StoreConfig(url=db_url, index_dir=index_dir, namespace="second")
    with (
        ExperienceStore.open(first, embedder=embedder) as a,
        ExperienceStore.open(second, embedder=embedder) as b,
    ):
        a.apply([update("A hall.", "wait", 1.0)])
        assert len(a) == 1 and len(b) == 0
        assert b.top_k(TASK, "A hall.", k=3) == []


def test_given_embeddings_are_used_and_checked(store, embedder):
    vector = embedder.embed(["Task: elsewhere\nObservation: somewhere"])[0]
    store.apply([update("A bare room.", "wait", 1.0, embedding=vector)])
    hit = store.nearest(vector, k=1)[0]
    assert hit.experience.observation == "A bare room."
    assert hit.similarity == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(InvalidVector, match=r"shape \(n, 384\), got shape \(1, 12\)"):
        store.apply(
            [
                update("A second room.", "wait", 1.0),
                update("A third room.", "wait", 1.0, embedding=np.ones(12)),
            ]
        )
    assert len(store) == 1


def test_ties_are_broken_by_id_whatever_order_the_index_holds(db_url, index_dir, embedder):
    vector = embedder.embed(["Task: x\nObservation: a twin"])[0]
    config = StoreConfig(url=db_url, index_dir=index_dir, persist_index=False)
    with ExperienceStore.open(config, embedder=embedder) as store:
        store.apply([update(f"Twin number {i}.", "wait", 1.0, embedding=vector) for i in (3, 1, 2)])
        first = [h.experience.id for h in store.nearest(vector, k=2)]
        assert first == sorted(first)
        assert [h.experience.observation for h in store.nearest(vector, k=2)] == [
            "Twin number 3.",
            "Twin number 1.",
        ]
    with ExperienceStore.open(config, embedder=embedder) as reopened:
        assert [h.experience.id for h in reopened.nearest(vector, k=2)] == first


def test_a_transaction_sees_its_own_writes_and_a_failed_one_leaves_no_trace(store):
    def work(tx):
        tx.apply([update("A phantom room.", "look", 1.0)])
        assert tx.top_k(TASK, "A phantom room.", k=1)[0].experience.observation == "A phantom room."
        assert tx.max_q(TASK, "A phantom room.") == 1.0
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        store.transaction(work)
    assert len(store) == 0
    assert len(store.index) == 0
    assert store.top_k(TASK, "A phantom room.") == []


def test_a_read_only_transaction_refuses_writes_with_a_store_error(store):
    store.apply([update("A hall.", "wait", 1.0)])
    state_id = store.get(TASK, "A hall.").id
    writes = {
        "applying updates": lambda tx: tx.apply([update("A cellar.", "look", 1.0)]),
        "writing states": lambda tx: tx.put([]),
        "deleting states": lambda tx: tx.delete([state_id]),
    }
    for what, write in writes.items():
        with pytest.raises(ReadOnlyTransaction, match=f"^{what} needs a write transaction"):
            store.read(write)
    assert [r.observation for r in store.records()] == ["A hall."]


def test_max_q_bootstraps_from_the_state_or_its_most_similar_neighbour(store):
    assert store.max_q(TASK, "The vault door is open.") == 0.0
    store.apply(
        [update("The vault door is open.", "enter", 2.0), update("The vault door is open.", "leave", -1.0)]
    )
    assert store.max_q(TASK, "The vault door is open.") == 2.0
    assert store.max_q(TASK, "The vault door stands open.") == 2.0
    assert store.max_q(TASK, "The vault door stands open.", floor=0.999) == 0.0


def test_the_same_situation_is_found_by_identity_and_pooled_for_bootstrapping(db_url, embedder, index_dir):
    def open_store(namespace: str, retrieval_text: str) -> ExperienceStore:
        config = StoreConfig(
            url=db_url, namespace=namespace, index_dir=index_dir, retrieval_text=retrieval_text
        )
        return ExperienceStore.open(config, embedder=embedder)

    here, other, near = (
        "Ice to the east, a hole to the south.",
        "Ice to the south.",
        "Ice to the east, a hole south.",
    )
    for retrieval_text in ("task+observation", "observation"):
        with open_store(retrieval_text, retrieval_text) as store:
            store.apply(
                [
                    Update("Map A", here, "east", 1.0, 0.0),
                    Update("Map B", here, "east", 0.0, 0.0),
                    Update("Map B", here, "east", 0.0, 0.0),
                    Update("Map B", near, "south", 5.0, 0.0),
                    Update("Map C", other, "south", 9.0, 0.0),
                ]
            )
            found = store.same_situation("Map A", here)
            if retrieval_text == "task+observation":
                # Only the state itself; another map's state is another state here.
                assert [(r.task, r.observation) for r in found] == [("Map A", here)]
                assert store.max_q("Map A", here) == 1.0
            else:
                # Every task's state with this very observation, oldest first; a similar one is not.
                assert [(r.task, r.observation) for r in found] == [("Map A", here), ("Map B", here)]
                # Visit-weighted over both: (1 + 0 + 0) / 3.
                assert store.max_q("Map A", here) == pytest.approx(1 / 3)
            assert store.same_situation("Map D", "Nothing like it.") == []


def test_an_empty_store_is_still_true(store):
    assert len(store) == 0 and bool(store)
