"""The optimum of a toy-text environment from its own transition table, by value iteration.

gymnasium's toy-text environments expose `P[state][action] = [(probability, next, reward, done)]`
(FrozenLake, Taxi, CliffWalking; not Blackjack). With reward 1 only at the goal and gamma 1, a
state's value is the best achievable probability of success: the yardstick a learned policy's
success rate is compared with; with step costs (Taxi, CliffWalking), the best expected return.
Under gamma 1, many actions tie (walking into a wall loses nothing), so the greedy policy is
taken from gamma just below 1, which prefers the actions that make progress.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

POLICY_GAMMA = 0.999


@dataclass(frozen=True)
class Optimum:
    """Success probability per state (gamma 1) and a greedy policy (action index per state)."""

    values: np.ndarray
    policy: np.ndarray


def tables(transitions: dict) -> tuple[np.ndarray, np.ndarray]:
    """Dense P[s, a, s'] (zero where the episode ends) and expected reward R[s, a]."""
    states, actions = len(transitions), len(transitions[0])
    move = np.zeros((states, actions, states))
    reward = np.zeros((states, actions))
    for s in range(states):
        for a in range(actions):
            for p, nxt, r, done in transitions[s][a]:
                reward[s, a] += p * r
                if not done:
                    move[s, a, nxt] += p
    return move, reward


def solve(move: np.ndarray, reward: np.ndarray, gamma: float, tolerance: float) -> np.ndarray:
    """Q* by Bellman optimality sweeps until no value moves more than `tolerance`."""
    values = np.zeros(move.shape[0])
    while True:
        q = reward + gamma * move @ values
        updated = q.max(axis=1)
        if np.abs(updated - values).max() < tolerance:
            return q
        values = updated


def value_iteration(transitions: dict, tolerance: float = 1e-10) -> Optimum:
    """Success probabilities under the optimal policy, and that policy."""
    move, reward = tables(transitions)
    values = solve(move, reward, 1.0, tolerance).max(axis=1)
    policy = solve(move, reward, POLICY_GAMMA, tolerance).argmax(axis=1)
    return Optimum(values, policy)


def best_within(transitions: dict, steps: int) -> np.ndarray:
    """Per state, the best achievable expected return within `steps` steps (a step limit), without
    discount: the probability of success where reward is 1 at the goal and 0 elsewhere."""
    move, reward = tables(transitions)
    values = np.zeros(move.shape[0])
    for _ in range(steps):
        values = (reward + move @ values).max(axis=1)
    return values
