"""The tabular Q-learning baseline of the learning benchmark."""

from __future__ import annotations

import numpy as np
import pytest

from bench.baselines.tabular import QTable, episode
from envs import make_env


def test_an_update_moves_q_towards_reward_plus_discounted_best_next_value():
    table = QTable(lr=0.5, gamma=0.9, rng=np.random.default_rng(0))
    table.values[("next", "b")] = 2.0
    table.update("here", "a", 1.0, "next", ("a", "b"), done=False)
    assert table.q("here", "a") == pytest.approx(0.5 * (1.0 + 0.9 * 2.0))
    table.update("here", "a", 1.0, "next", ("a", "b"), done=True)
    assert table.q("here", "a") == pytest.approx(1.4 + 0.5 * (1.0 - 1.4))


def test_it_learns_the_fixed_4x4_map_and_plays_it_greedily():
    env = make_env("frozenlake:4x4")
    table = QTable(lr=0.5, gamma=0.9, rng=np.random.default_rng(1))
    for _ in range(400):
        episode(env, 0, table, explore=0.3)
    wins = [episode(env, 0, table, explore=None)[0] for _ in range(5)]
    env.close()
    assert all(wins)
