"""Text environments behind one small gymnasium-style interface (see base.py), made from spec strings."""

from envs.base import InvalidAction, Observation, StepResult, TextEnv
from envs.registry import make_env

__all__ = ["InvalidAction", "Observation", "StepResult", "TextEnv", "make_env"]
