"""The update rule against a slow, obviously-correct restatement of its equations, on a real store."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memory_store import Averaging, ExperienceStore, StoreConfig
from memory_store.names import second_table
from rlem.learning.learner import replay
from rlem.learning.qlearning import EpisodeLearner, Rule, Step, Tables
from rlem.learning.trajectory import EpisodeLog, StepLog

OBSERVATIONS = [f"You are in room {i}. Exits lead north and south." for i in range(4)]
TASKS = ["Find the exit.", "Collect the coins."]
ACTIONS = ["go north", "go south", "wait"]
# Above any cosine similarity: a state not stored bootstraps 0, as the restatement assumes.
NO_NEIGHBOURS = 2.0


@dataclass
class Entry:
    """The restatement's record of one state."""

    visits: int = 0
    last_reward: float = 0.0
    total_reward: float = 0.0
    history: tuple[str, ...] = ()
    q: dict[str, float] = field(default_factory=dict)
    reward: dict[str, float] = field(default_factory=dict)
    count: dict[str, int] = field(default_factory=dict)


class Reference:
    """The rule spelled out with dicts, index by index, exactly as the equations read."""

    def __init__(self, rule: Rule):
        self.rule = rule
        self.tables: list[dict[tuple[str, str], Entry]] = [{}, {}] if rule.double_q else [{}]
        self.turn = 0

    def average(self, old: float, sample: float, n: int) -> float:
        if self.rule.mode is Averaging.MEAN:
            return (old * n + sample) / (n + 1)
        return old + self.rule.lr * (sample - old)

    def max_q(self, table: dict, task: str, observation: str) -> float:
        entry = table.get((task, observation))
        return max(entry.q.values()) if entry else 0.0

    def tables_for_next_update(self) -> tuple[dict, dict]:
        if len(self.tables) == 1:
            return self.tables[0], self.tables[0]
        write, read = self.tables[self.turn % 2], self.tables[1 - self.turn % 2]
        self.turn += 1
        return write, read

    def write(
        self, table: dict, task: str, s: list[str], a: list[str], r: list[float], t: int, target: float
    ):
        last = r[t - 1] if t > 0 else 0.0
        total = sum(r[j] for j in range(t))
        entry = table.setdefault((task, s[t]), Entry())
        if entry.visits == 0:
            entry.last_reward, entry.total_reward, entry.history = last, total, tuple(a[:t])
        else:
            entry.last_reward = self.average(entry.last_reward, last, entry.visits)
            entry.total_reward = self.average(entry.total_reward, total, entry.visits)
            if len(a[:t]) <= len(entry.history):
                entry.history = tuple(a[:t])
        entry.visits += 1
        n = entry.count.get(a[t], 0)
        entry.q[a[t]] = self.average(entry.q.get(a[t], 0.0), target, n)
        entry.reward[a[t]] = self.average(entry.reward.get(a[t], 0.0), r[t], n)
        entry.count[a[t]] = n + 1

    def episode(self, task: str, s: list[str], a: list[str], r: list[float]) -> None:
        """s = s_0..s_T, a = a_0..a_{T-1}, r[t] = r_{t+1}."""
        T, n, g = len(a), self.rule.n_step, self.rule.gamma
        if n is not None:
            for t in range(0, T - n):  # exactly the t with t + n <= T - 1
                write, read = self.tables_for_next_update()
                target = sum(g**j * r[t + j] for j in range(n)) + g**n * self.max_q(read, task, s[t + n])
                self.write(write, task, s, a, r, t, target)
        for t in range(0 if n is None else max(0, T - n), T):
            write, _ = self.tables_for_next_update()
            self.write(write, task, s, a, r, t, sum(g ** (j - t) * r[j] for j in range(t, T)))


def episode_logs():
    step = st.builds(
        lambda o, x, rw: StepLog(observation=o, available_actions=ACTIONS, action=x, reward=rw),
        st.sampled_from(OBSERVATIONS),
        st.sampled_from(ACTIONS),
        st.sampled_from([-1.0, 0.0, 0.25, 1.0, 2.5]),
    )
    return st.builds(
        lambda task, steps, final: EpisodeLog(
            task=task, steps=steps, final_observation=final, final_available_actions=ACTIONS
        ),
        st.sampled_from(TASKS),
        st.lists(step, max_size=6),
        st.sampled_from(OBSERVATIONS),
    )


rules = st.builds(
    Rule,
    n_step=st.sampled_from([None, 1, 2, 3]),
    gamma=st.sampled_from([1.0, 0.9, 0.5]),
    mode=st.sampled_from(list(Averaging)),
    lr=st.sampled_from([0.1, 0.5]),
    similarity_floor=st.just(NO_NEIGHBOURS),
    double_q=st.booleans(),
)


def open_store(directory: str, embedder, namespace: str = "default") -> ExperienceStore:
    config = StoreConfig(url=f"sqlite:///{directory}/memory.db", namespace=namespace, persist_index=False)
    return ExperienceStore.open(config, embedder=embedder)


def assert_matches(store: ExperienceStore, table: dict[tuple[str, str], Entry]) -> None:
    records = {(r.task, r.observation): r for r in store.records()}
    assert set(records) == set(table)
    for key, entry in table.items():
        record = records[key]
        assert (record.visits, record.action_history) == (entry.visits, entry.history)
        assert record.last_reward == pytest.approx(entry.last_reward, abs=1e-9)
        assert record.total_reward == pytest.approx(entry.total_reward, abs=1e-9)
        assert {a.action: a.visits for a in record.actions} == entry.count
        for action in record.actions:
            assert action.q == pytest.approx(entry.q[action.action], abs=1e-9)
            assert action.reward == pytest.approx(entry.reward[action.action], abs=1e-9)


@pytest.mark.slow
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule=rules, episodes=st.lists(episode_logs(), min_size=1, max_size=3))
def test_replay_matches_the_equations(embedder, rule, episodes):
    reference = Reference(rule)
    for episode in episodes:
        reference.episode(
            episode.task,
            [s.observation for s in episode.steps] + [episode.final_observation],
            [s.action for s in episode.steps],
            [s.reward for s in episode.steps],
        )
    with tempfile.TemporaryDirectory() as directory, open_store(directory, embedder) as store:
        replay(store, episodes, rule)
        assert_matches(store, reference.tables[0])
        if rule.double_q:
            with open_store(directory, embedder, second_table("default")) as second:
                assert_matches(second, reference.tables[1])


def test_bootstrap_reads_the_most_similar_state_when_the_next_one_is_not_stored(embedder, tmp_path: Path):
    # The mean of the samples so far, so that each Q below is the one sample it was given.
    rule = Rule(n_step=1, gamma=0.5, mode=Averaging.MEAN)
    with open_store(str(tmp_path), embedder) as store:
        store.apply([])
        seen = "You are in room 0. Exits lead north and south."
        unseen = "You are in room 0. Exits lead north and south, and a lamp glows."
        tables = Tables([store])
        learner = EpisodeLearner(TASKS[0], rule)
        learner.observe(tables, Step(seen, tuple(ACTIONS), "wait", 2.0), seen, done=False)
        assert store.get(TASKS[0], seen).action("wait").q == pytest.approx(2.0)
        learner.observe(tables, Step(seen, tuple(ACTIONS), "go north", 1.0), unseen, done=False)
        # 1.0 + 0.5 * max Q of the nearest stored state (seen: wait -> 2.0)
        assert store.get(TASKS[0], seen).action("go north").q == pytest.approx(2.0)
        floored = Rule(n_step=1, gamma=0.5, mode=Averaging.MEAN, similarity_floor=0.9999)
        floor = EpisodeLearner(TASKS[0], floored)
        floor.observe(tables, Step(seen, tuple(ACTIONS), "go south", 1.0), unseen, done=False)
        assert store.get(TASKS[0], seen).action("go south").q == pytest.approx(1.0)


def test_live_updates_and_replay_give_the_same_memory(embedder, tmp_path: Path):
    rule = Rule(n_step=2, gamma=0.9)
    episodes = [
        EpisodeLog(
            task=TASKS[0],
            steps=[
                StepLog(
                    observation=OBSERVATIONS[i % 4],
                    available_actions=ACTIONS,
                    action=ACTIONS[i % 3],
                    reward=i % 2,
                )
                for i in range(length)
            ],
            final_observation=OBSERVATIONS[3],
            final_available_actions=ACTIONS,
        )
        for length in (5, 3, 1)
    ]
    (tmp_path / "live").mkdir()
    (tmp_path / "replayed").mkdir()
    with open_store(str(tmp_path / "live"), embedder) as live:
        tables = Tables([live])
        for episode in episodes:
            learner = EpisodeLearner(episode.task, rule)
            for t, s in enumerate(episode.steps):
                last = t + 1 == len(episode.steps)
                following = episode.final_observation if last else episode.steps[t + 1].observation
                learner.observe(
                    tables, Step(s.observation, tuple(ACTIONS), s.action, s.reward), following, last
                )
            learner.finish(tables)
        live_records = [
            (r.task, r.observation, r.visits, r.action_history, r.actions) for r in live.records()
        ]
    with open_store(str(tmp_path / "replayed"), embedder) as replayed:
        replay(replayed, episodes, rule)
        replayed_records = [
            (r.task, r.observation, r.visits, r.action_history, r.actions) for r in replayed.records()
        ]
    assert live_records == replayed_records


def test_rule_settings_are_checked():
    with pytest.raises(ValueError, match="n_step must be a positive integer"):
        Rule(n_step=0)
    with pytest.raises(ValueError, match="gamma must be in"):
        Rule(gamma=1.5)
