"""TextWorld games generated per seed: the contract, the cleaned text, caching, winning."""

from __future__ import annotations

import pytest

from envs import make_env
from envs.checker import check_env
from tests.envs.availability import requires

# Every test generates or plays a TextWorld game: seconds each.
pytestmark = [requires("textworld"), pytest.mark.slow, pytest.mark.usefixtures("textworld_cache")]


@pytest.mark.parametrize(
    "spec", ["textworld:simple", "textworld:coin_collector:2", "textworld:treasure_hunter"]
)
def test_textworld_challenges_keep_the_contract(spec):
    env = make_env(spec)
    counts = check_env(env, episodes=3, max_steps=200)
    env.close()
    assert counts["episodes"] == 3


def test_observations_lose_the_banner_and_status_line_and_games_are_cached(textworld_cache):
    env = make_env("textworld:coin_collector")
    first = env.reset(seed=4)
    assert first.text.startswith("-= ") and "$$" not in first.text
    assert "coin" in first.task.lower()
    result = env.step(first.available_actions[0])
    assert not result.observation.text.rstrip().endswith(">")
    assert "/1" not in result.observation.text.splitlines()[-1]
    assert len(list(textworld_cache.glob("*.z8"))) == 1
    assert env.reset(seed=4) == first
    env.close()


def test_collecting_the_coin_wins():
    env = make_env("textworld:coin_collector")
    observation = env.reset(seed=4)
    for _ in range(20):
        action = next((a for a in observation.available_actions if a.startswith("take")), None)
        action = action or next(a for a in observation.available_actions if a.startswith("go"))
        result = env.step(action)
        observation = result.observation
        if result.terminated:
            break
    assert result.info["success"] and result.reward > 0
    env.close()
