"""RLEM: Reinforcement Learning with Experience Memory (REMEMBERER, arXiv 2306.07929).

An LLM agent acts in text environments, guided by similar past experiences retrieved from a
persistent memory (`memory_store`); learning is Q-learning written back to that memory.

    from rlem import AgentConfig, RLEMAgent
    with RLEMAgent.open(AgentConfig(db="sqlite:///memory.db", policy="memory-greedy")) as agent:
        episode = agent.begin(task)
        action = episode.act(observation, actions)
        episode.reward(reward)
        episode.end(final_observation, success=True)

`RemoteAgent.open(url, token, namespace=...)` has the same methods against `rlem serve`.
"""

from envs import Observation, StepResult, TextEnv, make_env
from envs.gymnasium_adapter import GymnasiumText
from rlem.agent.sessions import Episode, EpisodeResult, RLEMAgent, SessionError
from rlem.client import RemoteAgent, RemoteEpisode, RemoteError
from rlem.config import AgentConfig, RunConfig
from rlem.policies.base import Decision, Policy, Situation
from rlem.policies.factory import make_policy

__version__ = "0.1.0"

__all__ = [
    "AgentConfig",
    "Decision",
    "Episode",
    "EpisodeResult",
    "GymnasiumText",
    "Observation",
    "Policy",
    "RLEMAgent",
    "RemoteAgent",
    "RemoteEpisode",
    "RemoteError",
    "RunConfig",
    "SessionError",
    "Situation",
    "StepResult",
    "TextEnv",
    "make_env",
    "make_policy",
]
