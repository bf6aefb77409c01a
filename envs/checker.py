"""Exercise any TextEnv with random admissible actions and check the interface contract."""

from __future__ import annotations

import numpy as np

from envs.base import InvalidAction, Observation, StepResult, TextEnv


class EnvContractError(AssertionError):
    """An environment broke the contract in envs.base."""


def check_observation(observation: Observation, where: str) -> None:
    """Types and a non-empty action list."""
    if not isinstance(observation, Observation):
        raise EnvContractError(f"{where}: expected an Observation, got {type(observation).__name__}")
    if not (isinstance(observation.task, str) and isinstance(observation.text, str) and observation.task):
        raise EnvContractError(f"{where}: task and observation text must be strings, the task non-empty")
    if not observation.available_actions or not all(
        isinstance(a, str) for a in observation.available_actions
    ):
        raise EnvContractError(f"{where}: the admissible actions must be a non-empty tuple of strings")


def check_start(env: TextEnv, seed: int | None = None) -> Observation:
    """Reset `env` once and check its first observation: what a run makes sure of before it starts."""
    observation = env.reset(seed=seed)
    check_observation(observation, "the first reset")
    return observation


def check_env(env: TextEnv, episodes: int = 20, seed: int = 0, max_steps: int = 500) -> dict[str, int]:
    """Run random episodes through `env`, raising EnvContractError on any breach; return counts."""
    rng = np.random.default_rng(seed)
    counts = {"episodes": 0, "steps": 0, "successes": 0}
    first = env.reset(seed=seed)
    if env.reset(seed=seed) != first:
        raise EnvContractError("reset with the same seed gave a different start")
    for episode in range(episodes):
        observation = env.reset(seed=seed + episode)
        check_observation(observation, f"episode {episode} reset")
        try:
            env.step("\u2203 surely not an action \u2203")
        except InvalidAction:
            pass
        else:
            raise EnvContractError("an inadmissible action was accepted")
        for step in range(max_steps):
            action = observation.available_actions[int(rng.integers(len(observation.available_actions)))]
            result = env.step(action)
            if not isinstance(result, StepResult) or not isinstance(result.reward, float):
                raise EnvContractError(
                    f"episode {episode} step {step}: expected a StepResult with a float reward"
                )
            if "success" not in result.info:
                raise EnvContractError(f"episode {episode} step {step}: info lacks 'success'")
            if result.info["success"] and not result.terminated:
                raise EnvContractError(f"episode {episode} step {step}: success without termination")
            if result.observation.task != observation.task:
                raise EnvContractError(f"episode {episode} step {step}: the task text changed mid-episode")
            counts["steps"] += 1
            if result.terminated or result.truncated:
                counts["successes"] += bool(result.info["success"])
                try:
                    env.step(action)
                except InvalidAction:
                    break
                raise EnvContractError(f"episode {episode}: a step after the end was accepted")
            check_observation(result.observation, f"episode {episode} step {step}")
            observation = result.observation
        else:
            raise EnvContractError(f"episode {episode} did not end within {max_steps} steps")
        counts["episodes"] += 1
    return counts
