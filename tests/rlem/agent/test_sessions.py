"""The session API: the agent's exploration, its choices, the step limit, and the contract of
begin / act / reward / end / act_many / close."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from envs import make_env
from rlem.agent.metrics import episode_record
from rlem.agent.run import Job
from rlem.agent.run import play as play_jobs
from rlem.agent.sessions import EpisodeResult, RLEMAgent, SessionError
from rlem.config import AgentConfig
from rlem.policies.base import Decision, Policy, Situation


class FirstAction(Policy):
    """The first admissible action in `order` (default: as offered); counts the situations asked."""

    name = "first"

    def __init__(self, order: Sequence[str] = ()) -> None:
        self.asked, self.order = 0, list(order)

    def decide(self, situations: Sequence[Situation], *, training: bool) -> list[Decision]:
        self.asked += len(situations)
        rank = {action: i for i, action in enumerate(self.order)}
        return [
            Decision(min(s.available_actions, key=lambda a: rank.get(a, len(rank))), "first")
            for s in situations
        ]


def episodes(
    spec: str, jobs: list[Job], explore: float = 0.0, order: Sequence[str] = (), max_steps: int | None = None
) -> tuple[FirstAction, list[EpisodeResult]]:
    """Run `jobs` on `spec` with a memoryless agent around FirstAction."""
    policy = FirstAction(order)
    finished: list[EpisodeResult] = []
    config = AgentConfig(memory="off", policy="random", k=0, explore=explore, max_steps=max_steps)
    agent = RLEMAgent.open(config, policy=policy, hooks=[lambda result, size: finished.append(result)])
    env = make_env(spec)
    play_jobs(agent, jobs, [env], lambda: None)
    env.close()
    agent.close()
    return policy, finished


def play(explore: float, training: bool) -> tuple[FirstAction, list[Decision]]:
    jobs = [Job(f"j{seed}", seed, training) for seed in range(6)]
    policy, finished = episodes("frozenlake:4x4:random:50", jobs, explore)
    return policy, [d for f in finished for d in f.decisions]


def test_exploring_decisions_skip_the_policy_and_only_while_training():
    policy, decisions = play(1.0, training=True)
    assert policy.asked == 0 and {d.reason for d in decisions} == {"exploring"}
    policy, decisions = play(1.0, training=False)
    assert policy.asked == len(decisions) and {d.reason for d in decisions} == {"first"}


def test_an_explore_share_explores_about_that_share():
    policy, decisions = play(0.5, training=True)
    explored = sum(d.reason == "exploring" for d in decisions)
    assert explored + policy.asked == len(decisions)
    assert 0.25 < explored / len(decisions) < 0.75


def test_explore_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError, match="explore"):
        play(1.5, training=True)


def test_an_action_that_changed_nothing_is_not_offered_again_at_once():
    # The fixed 4x4 map from the top-left corner: "move left" walks into the edge, "move down"
    # moves, and after two moves down the third ends in the hole at row 4.
    _, finished = episodes("frozenlake:4x4", [Job("j", 0, False)])
    assert [d.action for d in finished[0].decisions] == ["move left", "move down"] * 3
    assert [len(s.available_actions) for s in finished[0].log.steps] == [4] * 6


def test_no_action_that_already_changed_nothing_here_is_offered_here_again():
    # From the top-left corner, left and up both walk into the edge: a policy that prefers them
    # would alternate them forever if only the last action were held back.
    order = ["move left", "move up", "move right", "move down"]
    _, finished = episodes("frozenlake:4x4", [Job("j", 0, False)], order=order)
    # Back in the corner at the fifth step, both edge moves are still held back.
    assert [d.action for d in finished[0].decisions][:5] == [*order[:3], "move left", "move right"]


def test_on_slippery_ice_the_same_action_may_be_repeated():
    # Sliding makes outcomes random, and pushing against a wall is often the safe move there.
    _, finished = episodes("frozenlake:4x4:slippery:30", [Job(f"j{seed}", seed, False) for seed in range(3)])
    assert {d.action for f in finished for d in f.decisions} == {"move left"}
    assert sum(len(f.decisions) for f in finished) > 3


def test_max_steps_ends_episodes_before_the_environments_own_limit():
    jobs = [Job(f"j{seed}", seed, False) for seed in range(3)]
    _, finished = episodes("frozenlake:4x4:slippery:30", jobs, max_steps=3)
    # Pushing left against the edge on slippery ice lasts, so only the cap ends these episodes early.
    assert [len(f.decisions) for f in finished] == [3, 3, 3]


def test_exploring_draws_stay_out_of_the_policys_latency_and_advice_statistics():
    _, finished = episodes("frozenlake:4x4:random:50", [Job("j", 0, True)], explore=1.0)
    assert all(d.explored for d in finished[0].decisions)
    record = episode_record(finished[0], 1, None)
    assert record["decision_latency_s"] is None and record["advice_offered"] == 0
    _, finished = episodes("frozenlake:4x4:random:50", [Job("j", 0, False)], explore=1.0)
    assert episode_record(finished[0], 1, None)["decision_latency_s"] == 0.0


def memory_agent(tmp_path, **changes) -> RLEMAgent:
    """A memory-greedy agent learning one-step Q values into a fresh SQLite memory."""
    settings = dict(db=f"sqlite:///{tmp_path / 'memory.db'}", policy="memory-greedy", explore=0.0, gamma=0.5)
    return RLEMAgent.open(AgentConfig(**(settings | changes)))


def values(agent: RLEMAgent) -> dict:
    """Every stored (observation, action) -> (Q, visits)."""
    return {(r.observation, a.action): (a.q, a.visits) for r in agent.store.records() for a in r.actions}


def test_an_episode_learns_through_act_reward_end(tmp_path):
    with memory_agent(tmp_path) as agent:
        episode = agent.begin("reach the goal")
        assert episode.act("at the start", ["left", "right"]) in ("left", "right")
        episode.reward(0.0)
        action = episode.act("in the middle", ["left", "right"])
        episode.reward(1.0)
        result = episode.end("at the goal", success=True)
        assert result.success and [s.reward for s in result.log.steps] == [0.0, 1.0]
        # One-step Q at a constant rate of 0.1 from 0: the last step toward its reward, 1.
        assert values(agent)[("in the middle", action)] == pytest.approx((0.1, 1))
        # Sequence numbers: two transitions, then the end.
        assert [s.seq for s in result.log.steps] == [1, 2] and result.log.seq == 3


@pytest.mark.parametrize(
    ("misuse", "message"),
    [
        (lambda ep: ep.act("here", []), "no admissible action"),
        (lambda ep: ep.act("here", "left"), "list of non-empty strings"),
        (lambda ep: (ep.act("here", ["a", "b"]), ep.act("here", ["a", "b"])), "reward"),
        (lambda ep: ep.reward(1.0), "no action awaits a reward"),
        (lambda ep: (ep.act("here", ["a", "b"]), ep.reward(1.0, action="c")), "not one of the actions"),
        (lambda ep: (ep.act("here", ["a", "b"]), ep.reward(float("nan"))), "finite number"),
        (lambda ep: (ep.act("here", ["a", "b"]), ep.end("there")), "before end"),
        (lambda ep: (ep.end("there"), ep.reward(1.0)), "has ended"),
        (lambda ep: (ep.end("there"), ep.act("here", ["a"])), "has ended"),
    ],
)
def test_misuse_raises_a_clear_error_and_changes_nothing(tmp_path, misuse, message):
    with memory_agent(tmp_path) as agent:
        warm = agent.begin("warm up")
        warm.act("before", ["a", "b"])
        warm.reward(1.0)
        warm.end("after")
        before = values(agent)
        episode = agent.begin("task")
        with pytest.raises(SessionError, match=message):
            misuse(episode)
        assert values(agent) == before


def test_a_caller_may_take_another_offered_action(tmp_path):
    with memory_agent(tmp_path) as agent:
        episode = agent.begin("task")
        chosen = episode.act("here", ["a", "b"])
        other = "b" if chosen == "a" else "a"
        episode.reward(1.0, action=other)
        episode.end("there")
        assert set(values(agent)) == {("here", other)}


def test_a_dropped_episode_writes_only_the_updates_already_due(tmp_path):
    agent = memory_agent(tmp_path, n_step=1)
    episode = agent.begin("task")
    for observation in ("s0", "s1", "s2"):
        episode.act(observation, ["a"])
        episode.reward(1.0)
    # s0 -> s1 and s1 -> s2 were fed when s1 and s2 arrived; the last transition awaits its next
    # observation, and the crash (no close) loses it.
    agent.close(save_index=False)
    agent = memory_agent(tmp_path, n_step=1)
    assert {observation for observation, _ in values(agent)} == {"s0", "s1"}
    agent.close()


def test_close_ends_open_episodes_as_truncated(tmp_path):
    agent = memory_agent(tmp_path, n_step=3)
    episode = agent.begin("task")
    for observation in ("s0", "s1"):
        episode.act(observation, ["a"])
        episode.reward(1.0)
    episode.act("s2", ["a"])  # no reward: not a transition, dropped at close
    agent.close()
    agent = memory_agent(tmp_path, n_step=3)
    stored = values(agent)
    # Truncated returns with gamma 0.5 from s0 (1 + 0.5) and s1 (1), at rate 0.1.
    assert stored == {("s0", "a"): pytest.approx((0.15, 1)), ("s1", "a"): pytest.approx((0.1, 1))}
    agent.close()


def test_act_many_asks_the_policy_once_for_all_episodes():
    policy = FirstAction()
    agent = RLEMAgent.open(AgentConfig(memory="off", policy="random", explore=0.0), policy=policy)
    running = [agent.begin(f"task {i}", training=False) for i in range(3)]
    calls = []
    original = policy.decide
    policy.decide = lambda situations, *, training: (
        calls.append(len(situations)) or original(situations, training=training)
    )
    actions = agent.act_many([(ep, "here", ["x", "y"]) for ep in running])
    assert actions == ["x", "x", "x"] and calls == [3]
    running[0].reward(0.0)
    with pytest.raises(SessionError, match="once per call"):
        agent.act_many([(running[0], "here", ["x"])] * 2)
    agent.close()
