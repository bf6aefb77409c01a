"""Deciding by generation, the paper's way, for any backend that completes prompts.

The model writes an answer; it is matched to the admissible list. Answers that match nothing get
one retry with a stricter instruction; what still matches nothing falls back to the memory-greedy
choice. Every retry and fallback is marked on its Decision, so the run loop can count them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rlem.policies.backends.baselines import MemoryGreedyPolicy
from rlem.policies.backends.matching import match_action, parse_answer
from rlem.policies.base import Decision, Situation

STRICT = "\n\nAnswer with exactly one of these actions, copied as written:\n"


@dataclass(frozen=True)
class Completion:
    """A backend's answer to one prompt and its token counts."""

    text: str
    prompt_tokens: int
    generated_tokens: int


Complete = Callable[[Sequence[str]], list[Completion]]


def strict_prompt(situation: Situation) -> str:
    """The retry prompt: the original one, then the admissible actions to copy from."""
    return situation.prompt + STRICT + "\n".join(situation.available_actions)


def decide_by_generation(
    situations: Sequence[Situation], complete: Complete, threshold: float, fallback: MemoryGreedyPolicy
) -> list[Decision]:
    """Generate for all situations in one batch, retry the unmatched in a second, fall back for the rest."""
    start = time.perf_counter()
    first = complete([s.prompt for s in situations])
    chosen = [
        match_action(c.text, s.available_actions, threshold) for c, s in zip(first, situations, strict=True)
    ]
    missed = [i for i, action in enumerate(chosen) if action is None]
    second = (
        dict(zip(missed, complete([strict_prompt(situations[i]) for i in missed]), strict=True))
        if missed
        else {}
    )
    for i, completion in second.items():
        chosen[i] = match_action(completion.text, situations[i].available_actions, threshold)
    latency = (time.perf_counter() - start) / len(situations)
    decisions = []
    for i, situation in enumerate(situations):
        retry = second.get(i)
        last = retry or first[i]
        counts = {
            "latency_s": latency,
            "prompt_tokens": first[i].prompt_tokens + (retry.prompt_tokens if retry else 0),
            "generated_tokens": first[i].generated_tokens + (retry.generated_tokens if retry else 0),
        }
        action = chosen[i]
        if action is None:
            backup = fallback.choose(situation)
            decisions.append(
                Decision(
                    backup.action,
                    f"fallback: {backup.reason}",
                    parsed=False,
                    retried=True,
                    fell_back=True,
                    **counts,
                )
            )
        else:
            decisions.append(
                Decision(action, parse_answer(last.text).reason, retried=retry is not None, **counts)
            )
    return decisions
