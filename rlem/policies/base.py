"""The policy interface: a batch of situations in, one admissible action per situation out.

Like gymnasium's `Env`, the interface is small and its contract is checked by `check_policy`,
which any implementation can be run through: one Decision per Situation, in order, and every
chosen action one of that situation's admissible actions.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from memory_store import Retrieved
from rlem.policies.values import ActionValues


@dataclass(frozen=True)
class Situation:
    """Everything a policy may use to choose the next action in one environment."""

    task: str
    observation: str
    available_actions: tuple[str, ...]
    retrieved: tuple[Retrieved, ...] = ()
    last_actions: tuple[str, ...] = ()
    prompt: str = ""
    encouraged: tuple[str, ...] = ()
    # What the memory says each action is worth here, for deciding (rlem/policies/values.py).
    values: ActionValues = field(default_factory=ActionValues)


@dataclass(frozen=True)
class Decision:
    """The chosen action and how it was reached, for the run loop's metrics."""

    action: str
    reason: str = ""
    parsed: bool = True
    retried: bool = False
    fell_back: bool = False
    latency_s: float = 0.0
    prompt_tokens: int = 0
    generated_tokens: int = 0
    # A random exploring draw by the agent: not the policy's choice, so not in its statistics.
    explored: bool = False


def followed_advice(encouraged: Sequence[str], decision: Decision) -> bool | None:
    """Whether the decision took one of the `encouraged` actions (a situation's, or as a server
    reports them); None when none was offered or the action was an exploring draw."""
    if not encouraged or decision.explored:
        return None
    return decision.action in encouraged


class Policy(ABC):
    """Chooses one admissible action per situation; `training` allows exploration."""

    name: str = "policy"
    # The exemplar template folder this policy works best with; None: the default (paper) layout.
    templates: Path | None = None

    @abstractmethod
    def decide(self, situations: Sequence[Situation], *, training: bool) -> list[Decision]:
        """One Decision per situation, in order; each action is in its situation's available_actions."""

    def close(self) -> None:  # noqa: B027 - a hook: most policies hold nothing to release
        """Release models, connections or processes the policy holds."""


class PolicyContractError(AssertionError):
    """A policy broke the interface contract."""


def check_policy(
    policy: Policy, situations: Sequence[Situation], *, training: bool = False
) -> list[Decision]:
    """Run `policy` on `situations` and verify the contract; return its decisions."""
    decisions = policy.decide(situations, training=training)
    if len(decisions) != len(situations):
        raise PolicyContractError(
            f"{policy.name}: {len(decisions)} decisions for {len(situations)} situations"
        )
    for number, (situation, decision) in enumerate(zip(situations, decisions, strict=True)):
        if not isinstance(decision, Decision):
            raise PolicyContractError(f"{policy.name}: decision {number} is a {type(decision).__name__}")
        if decision.action not in situation.available_actions:
            raise PolicyContractError(
                f"{policy.name}: decision {number} chose {decision.action!r}, not one of "
                f"{list(situation.available_actions)}"
            )
    return decisions
