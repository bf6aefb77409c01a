"""Environments by spec string: `name[:argument...]`, e.g. `frozenlake:8x8:slippery`."""

from __future__ import annotations

from collections.abc import Callable

from envs import cliffwalking, frozenlake, scienceworld_env, textworld_env
from envs.base import TextEnv
from envs.blackjack import Blackjack
from envs.taxi import Taxi


def no_arguments(make: Callable[[], TextEnv]) -> Callable[[list[str]], TextEnv]:
    """A spec parser for environments that take no arguments."""

    def parse(arguments: list[str]) -> TextEnv:
        if arguments:
            raise ValueError(f"takes no arguments, got {arguments}")
        return make()

    return parse


REGISTRY: dict[str, Callable[[list[str]], TextEnv]] = {
    "frozenlake": frozenlake.from_spec,
    "taxi": no_arguments(Taxi),
    "cliffwalking": cliffwalking.from_spec,
    "blackjack": no_arguments(Blackjack),
    "textworld": textworld_env.from_spec,
    "scienceworld": scienceworld_env.from_spec,
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
