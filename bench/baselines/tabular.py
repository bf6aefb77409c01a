"""Tabular epsilon-greedy Q-learning: the textbook baseline of the learning-efficiency benchmark.

    python -m bench.baselines.tabular --env SPEC --train-tasks 0-99 --test-tasks 1000-1049 --out DIR
        [--epochs 3] [--gamma G] [--lr LR] [--explore EPS] [--seed 0]

The table is keyed on the same text a memory matches states on (the environment's
`retrieval_text`: the observation alone on random FrozenLake maps), so it sees exactly what
memory-greedy sees but cannot generalise between texts that differ. Each epoch: one episode per
training task (one-step Q-learning, epsilon-greedy), then one greedy episode per test task with
the table frozen. Writes DIR/metrics.jsonl with the fields `bench.learning` reads from `rlem run`.
The discount, exploration and learning rate default to `rlem run`'s own (`RunConfig()`).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from envs import Observation, TextEnv, make_env
from rlem.config import RunConfig, parse_tasks


@dataclass
class QTable:
    """Q(s, a) for text states, zero until updated; ties among the best are broken at random."""

    lr: float
    gamma: float
    rng: np.random.Generator
    values: dict[tuple[str, str], float] = field(default_factory=dict)

    def q(self, state: str, action: str) -> float:
        """The current estimate (0 for a pair never updated)."""
        return self.values.get((state, action), 0.0)

    def greedy(self, state: str, actions: tuple[str, ...]) -> str:
        """A best action, drawn at random among ties."""
        top = max(self.q(state, a) for a in actions)
        ties = [a for a in actions if self.q(state, a) == top]
        return ties[int(self.rng.integers(len(ties)))]

    def update(
        self, state: str, action: str, reward: float, after: str, actions: tuple[str, ...], done: bool
    ):
        """Q(s,a) <- Q(s,a) + lr * (r + gamma * max_a' Q(s',a') - Q(s,a)), without the max at the end."""
        future = 0.0 if done else max(self.q(after, a) for a in actions)
        target = reward + self.gamma * future
        self.values[(state, action)] = self.q(state, action) + self.lr * (target - self.q(state, action))


def state_key(env: TextEnv, seen: Observation) -> str:
    """The text the table is keyed on: what a memory would embed for this state."""
    return seen.text if env.retrieval_text == "observation" else f"{seen.task}\n{seen.text}"


def episode(env: TextEnv, seed: int, table: QTable, explore: float | None) -> tuple[bool, float, int]:
    """Play one episode; learn from it when `explore` is given. Returns (success, return, steps)."""
    seen = env.reset(seed=seed)
    total, steps, success = 0.0, 0, False
    while True:
        state = state_key(env, seen)
        if explore is not None and table.rng.random() < explore:
            action = seen.available_actions[int(table.rng.integers(len(seen.available_actions)))]
        else:
            action = table.greedy(state, seen.available_actions)
        result = env.step(action)
        done = result.terminated or result.truncated
        if explore is not None:
            after = result.observation
            # A truncated episode is cut, not ended: its last state still has a future.
            table.update(
                state,
                action,
                result.reward,
                state_key(env, after),
                after.available_actions,
                result.terminated,
            )
        total, steps, seen = total + result.reward, steps + 1, result.observation
        if done:
            success = bool(result.info.get("success"))
            return success, total, steps


def split_row(epoch: int, split: str, outcomes: list[tuple[bool, float, int]]) -> dict:
    """One metrics.jsonl line: the fields `rlem run` writes that a tabular learner has."""
    return {
        "epoch": epoch,
        "split": split,
        "episodes": len(outcomes),
        "success_rate": float(np.mean([o[0] for o in outcomes])) if outcomes else 0.0,
        "mean_return": float(np.mean([o[1] for o in outcomes])) if outcomes else 0.0,
        "mean_steps": float(np.mean([o[2] for o in outcomes])) if outcomes else 0.0,
        "memory_size": None,
    }


def parser() -> argparse.ArgumentParser:
    """The baseline's arguments; those `rlem run` also has default to its defaults."""
    defaults = RunConfig()
    found = argparse.ArgumentParser(
        prog="python -m bench.baselines.tabular", description=__doc__.splitlines()[0]
    )
    found.add_argument("--env", required=True)
    found.add_argument("--epochs", type=int, default=defaults.epochs)
    found.add_argument("--train-tasks", type=parse_tasks, required=True)
    found.add_argument("--test-tasks", type=parse_tasks, required=True)
    found.add_argument("--gamma", type=float, default=defaults.gamma)
    found.add_argument("--lr", type=float, default=defaults.lr)
    found.add_argument("--explore", type=float, default=defaults.explore)
    found.add_argument("--seed", type=int, default=defaults.seed)
    found.add_argument("--out", type=Path, required=True)
    return found


# The arguments this program shares with `rlem run` (RunConfig's fields of the same names).
SHARED = ("env", "epochs", "train_tasks", "test_tasks", "gamma", "lr", "explore", "seed")


def main(argv: list[str] | None = None) -> None:
    """Train and evaluate, epoch after epoch, and write the metrics."""
    args = parser().parse_args(argv)
    env = make_env(args.env)
    table = QTable(args.lr, args.gamma, np.random.default_rng(args.seed))
    rows = []
    for epoch in range(1, args.epochs + 1):
        trained = [episode(env, seed, table, args.explore) for seed in args.train_tasks]
        evaluated = [episode(env, seed, table, None) for seed in args.test_tasks]
        rows += [split_row(epoch, "train", trained), split_row(epoch, "eval", evaluated)]
    env.close()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))


if __name__ == "__main__":
    main()
