"""One pydantic config per policy backend, and the function that builds a policy from one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rlem.policies.backends.baselines import MemoryGreedyPolicy, RandomPolicy
from rlem.policies.backends.hf import HFConfig
from rlem.policies.backends.llamacpp import LlamaCppConfig
from rlem.policies.backends.openai_compat import OpenAIConfig
from rlem.policies.base import Policy


class RandomConfig(BaseModel):
    """Uniform over admissible actions."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int | None = None


class MemoryGreedyConfig(BaseModel):
    """The paper's memory without an LLM."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int | None = None


class PolicySpec(BaseModel):
    """A policy backend by name with its settings, e.g. `{"backend": "hf", "settings": {...}}`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: Literal["random", "memory-greedy", "hf", "openai", "llamacpp"]
    settings: Annotated[dict, Field(default_factory=dict)]


def build_hf(config: HFConfig) -> Policy:
    """The transformers policy (imports torch only when asked for)."""
    from rlem.policies.backends.hf import HFPolicy

    return HFPolicy(config)


def build_openai(config: OpenAIConfig) -> Policy:
    """The OpenAI-compatible policy."""
    from rlem.policies.backends.openai_compat import OpenAIPolicy

    return OpenAIPolicy(config)


def build_llamacpp(config: LlamaCppConfig) -> Policy:
    """The llama.cpp policy."""
    from rlem.policies.backends.llamacpp import LlamaCppPolicy

    return LlamaCppPolicy(config)


# backend name -> (its settings model, how to build it)
BACKENDS: dict[str, tuple[type[BaseModel], Callable[[Any], Policy]]] = {
    "random": (RandomConfig, lambda c: RandomPolicy(c.seed)),
    "memory-greedy": (MemoryGreedyConfig, lambda c: MemoryGreedyPolicy(c.seed)),
    "hf": (HFConfig, build_hf),
    "openai": (OpenAIConfig, build_openai),
    "llamacpp": (LlamaCppConfig, build_llamacpp),
}


def make_policy(spec: PolicySpec) -> Policy:
    """Validate the backend's settings and build the policy (loading models only for LLM backends)."""
    config_model, build = BACKENDS[spec.backend]
    return build(config_model.model_validate(spec.settings))
