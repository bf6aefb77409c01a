"""Environments by spec string: `name[:argument...]`, e.g. `frozenlake:8x8:slippery`."""

from __future__ import annotations

from collections.abc import Callable

from envs import frozenlake
from envs.base import TextEnv

REGISTRY: dict[str, Callable[[list[str]], TextEnv]] = {
    "frozenlake": frozenlake.from_spec,
}


class UnknownEnvironment(ValueError):
    """A spec names no registered environment or gives it arguments it does not take."""


def make_env(spec: str) -> TextEnv:
    """The environment a spec names, or UnknownEnvironment saying what exists."""
    name, *arguments = spec.strip().split(":")
    if name not in REGISTRY:
        raise UnknownEnvironment(
            f"unknown environment {name!r} in {spec!r}: known are {', '.join(sorted(REGISTRY))}"
        )
    try:
        return REGISTRY[name](arguments)
    except ValueError as exc:
        raise UnknownEnvironment(f"bad spec {spec!r}: {exc}") from None
