"""The episode API's request and response bodies (the OpenAPI schema is made from these)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from memory_store import Retrieved
from rlem.config import EPISODE_LEARNING, AgentConfig
from rlem.policies.base import Decision

# Actions one request may offer, and the length of one action's text.
MAX_ACTIONS = 1000


def optional_field(name: str) -> tuple[type, object]:
    """AgentConfig's field `name`, optional (None: the server's setting), with its description."""
    info = AgentConfig.model_fields[name]
    return info.annotation | None, Field(default=None, description=info.description)  # type: ignore[operator]


# The learning settings an episode may bring, defined once in AgentConfig.
LearningSettings = create_model(
    "LearningSettings",
    __config__=ConfigDict(extra="forbid", allow_inf_nan=False),
    __doc__="Learning settings of the namespace's agent; unset ones are the server's.",
    **{name: optional_field(name) for name in EPISODE_LEARNING},
)


class Strict(BaseModel):
    """A request body: unknown fields and non-finite numbers are refused."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class BeginRequest(Strict):
    """Begin an episode of `task`; training episodes write to the memory."""

    task: str = Field(min_length=1, description="What the agent is asked to do.")
    training: bool = Field(default=True, description="Learn from this episode (false: evaluation).")
    env: str | None = Field(default=None, max_length=500, description="Environment name, for the log.")
    seed: int | None = Field(default=None, description="Environment seed, for the log.")
    deterministic: bool = Field(
        default=False, description="Actions always have the same outcome (no idle action is offered twice)."
    )
    explore: float | None = Field(
        default=None, ge=0, le=1, description="Share of training decisions taken at random."
    )
    max_steps: int | None = Field(default=None, ge=1, description="The episode's step limit.")
    learning: LearningSettings = Field(default_factory=LearningSettings)  # type: ignore[valid-type]


class EpisodeInfo(BaseModel):
    """An episode on this server."""

    episode: str
    namespace: str
    task: str
    training: bool
    phase: Literal["act", "reward", "ended", "expired"]
    step: int = Field(description="The step the next act (or reward, or end) is for.")
    idle_s: float


class CarriesReward(Strict):
    """A request that may bring the reward of the step before it, instead of a reward request."""

    step: int = Field(ge=0)
    reward: float | None = Field(
        default=None, description="The reward of step `step - 1`'s action, if no reward request gave it."
    )
    taken: str | None = Field(
        default=None, description="With `reward`: the action taken at step `step - 1`, if not the one chosen."
    )

    @model_validator(mode="after")
    def rewardable(self) -> CarriesReward:
        """A carried reward is for an earlier step; `taken` comes with it."""
        if self.reward is not None and self.step == 0:
            raise ValueError("step 0 has no earlier action to reward: leave out reward")
        if self.taken is not None and self.reward is None:
            raise ValueError("taken comes with the reward of that step: give reward too")
        return self


class ActRequest(CarriesReward):
    """The observation of step `step` and the actions admissible in it."""

    observation: str
    actions: list[str] = Field(min_length=1, max_length=MAX_ACTIONS)
    explain: bool = Field(default=False, description="Also return the retrieved states and the prompt.")


class ActResponse(BaseModel):
    """The chosen action and how it was reached."""

    step: int
    action: str
    kind: Literal["model", "explored", "fallback"] = Field(
        description="model: the policy's choice; explored: a random exploring draw; fallback: the policy's "
        "output was unusable and a fallback chose."
    )
    reason: str
    encouraged: list[str] = Field(description="Actions the exemplars shown encouraged.")
    batch_size: int = Field(description="Act requests decided in the same policy call.")
    decide_ms: float = Field(description="Time of that policy call.")
    queued_ms: float = Field(description="Time this request waited for its batch.")
    retrieved: list[Retrieved] | None = None
    prompt: str | None = None


def decision_kind(decision: Decision) -> Literal["model", "explored", "fallback"]:
    """How a decision was reached, as the API names it."""
    if decision.explored:
        return "explored"
    return "fallback" if decision.fell_back else "model"


class RewardRequest(Strict):
    """The reward of step `step`'s action (`action`: another offered one the caller took instead)."""

    step: int = Field(ge=0)
    reward: float
    action: str | None = None


class RewardResponse(BaseModel):
    """The step as recorded."""

    step: int
    action: str
    reward: float


class EndRequest(CarriesReward):
    """End the episode after `step` steps, in its final observation."""

    step: int = Field(ge=0, description="Steps taken (the index of the act that would come next).")
    observation: str = ""
    actions: list[str] = Field(default_factory=list, max_length=MAX_ACTIONS)
    success: bool = False


class EndResponse(BaseModel):
    """An ended episode."""

    episode: str
    steps: int
    episode_return: float
    success: bool
    memory_size: int | None = Field(description="States in the namespace after its updates.")
