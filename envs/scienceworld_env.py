"""ScienceWorld tasks (Java, via the `scienceworld` package), one variation per seed.

Specs: `scienceworld:TASK[:SPLIT[:SIMPLIFICATIONS]]`, e.g. `scienceworld:boil`,
`scienceworld:boil:test`, `scienceworld:find-animal:dev:easy`. SPLIT is the package's train, dev or
test variations (default train); the seed picks a variation within it. SIMPLIFICATIONS is the
package's string (default `easy`). Reward is the score change, success a finished task at score 100.
"""

from __future__ import annotations

from typing import Any

from envs.base import Observation, StepResult, TextEnv, require_admissible

SPLITS = ("train", "dev", "test")


class ScienceWorld(TextEnv):
    """One ScienceWorld task; the JVM starts with the environment and stops on close()."""

    def __init__(self, task: str, split: str = "train", simplifications: str = "easy", step_limit: int = 100):
        from scienceworld import ScienceWorldEnv

        self.env = ScienceWorldEnv("", envStepLimit=step_limit)
        if task not in self.env.get_task_names():
            known = ", ".join(self.env.get_task_names())
            self.env.close()
            raise ValueError(f"unknown ScienceWorld task {task!r}; the package has: {known}")
        self.task_name, self.split, self.simplifications, self.step_limit = (
            task,
            split,
            simplifications,
            step_limit,
        )
        self.spec = f"scienceworld:{task}:{split}:{simplifications}"
        self.env.load(task, 0, simplifications)
        self.variations = {
            "train": self.env.get_variations_train(),
            "dev": self.env.get_variations_dev(),
            "test": self.env.get_variations_test(),
        }[split]
        self.task = ""
        self.actions: tuple[str, ...] = ()
        self.score = 0.0
        self.moves = 0
        self.done = True

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Observation:
        """Load the variation the seed picks from the split, and start it."""
        variation = self.variations[(seed or 0) % len(self.variations)]
        self.env.load(self.task_name, variation, self.simplifications)
        text, info = self.env.reset()
        self.task = self.env.get_task_description().strip()
        self.score, self.moves, self.done = float(info["score"]), 0, False
        return self.observe(text, info)

    def observe(self, text: str, info: dict[str, Any]) -> Observation:
        """The task, the text, and the valid actions."""
        self.actions = tuple(info["valid"]) or ("look around",)
        return Observation(self.task, text.strip(), self.actions)

    def step(self, action: str) -> StepResult:
        """One valid action; the reward is the change in score."""
        require_admissible(action, self.actions, self.done)
        text, _, done, info = self.env.step(action)
        score = float(info["score"])
        reward, self.score = score - self.score, score
        self.moves += 1
        success = bool(done and score >= 100)
        # The package ends episodes at its step limit too: that is truncation, not the task ending.
        terminated = bool(done and (success or score < 0 or self.moves < self.step_limit))
        truncated = bool(done and not terminated)
        self.done = bool(done)
        return StepResult(self.observe(text, info), reward, terminated, truncated, {"success": success})

    def close(self) -> None:
        """Stop the JVM."""
        self.env.close()


def from_spec(arguments: list[str]) -> ScienceWorld:
    """TASK, then an optional split and simplification string."""
    if not arguments or len(arguments) > 3:
        raise ValueError(f"scienceworld takes TASK[:SPLIT[:SIMPLIFICATIONS]], got {arguments}")
    split = arguments[1] if len(arguments) > 1 else "train"
    if split not in SPLITS:
        raise ValueError(f"scienceworld splits are {', '.join(SPLITS)}, got {split!r}")
    return ScienceWorld(arguments[0], split, arguments[2] if len(arguments) > 2 else "easy")
