"""Environments by spec string, from the project, from installed packages, or from any module.

- Built-in names: `name[:argument...]`, e.g. `frozenlake:8x8:slippery` or `taxi` (REGISTRY; `rlem envs`
  lists them with an example each).
- Installed packages: a distribution registers names in the entry-point group `rlem.envs`; each entry
  point names a callable that takes the argument list, as REGISTRY's parsers do, and returns a TextEnv::

      [project.entry-points."rlem.envs"]
      mygrid = "mygrid.envs:from_spec"    # --env mygrid:8x8 calls from_spec(["8x8"])

  A built-in name wins over an entry point of the same name: a spec keeps meaning what it meant in
  saved runs whatever gets installed later (`rlem envs` lists such an entry point as shadowed).
- Any importable module: a spec whose name part holds a dot is `package.module:factory[:argument...]`;
  the module is imported and `factory(*arguments)` called with the arguments as strings, e.g.
  `mygrid.envs:make_grid:8x8` calls `make_grid("8x8")`. A top-level module (no dot) is not reachable
  this way: put it in a package or register an entry point. Entry-point names with a dot never match.

What a factory returns must be a TextEnv; one whose `spec` is empty gets the spec it was made from.
Every failure is an UnknownEnvironment (FactoryFailed where code outside the project failed) whose
one-line message says what to fix; the traceback of a failed import or call is logged at debug level
(`rlem -v` shows it).
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import reprlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType

import gymnasium as gym

from envs import cliffwalking, frozenlake, scienceworld_env, textworld_env
from envs.base import TextEnv
from envs.blackjack import Blackjack
from envs.taxi import Taxi

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "rlem.envs"


def no_arguments(make: Callable[[], TextEnv]) -> Callable[[list[str]], TextEnv]:
    """A spec parser for environments that take no arguments."""

    def parse(arguments: list[str]) -> TextEnv:
        if arguments:
            raise ValueError(f"takes no arguments, got {arguments}")
        return make()

    return parse


@dataclass(frozen=True)
class BuiltIn:
    """A shipped environment: its spec parser, what it is in one line, a spec to try, and the
    package it needs beyond the core dependencies (None: nothing more)."""

    parse: Callable[[list[str]], TextEnv]
    description: str
    example: str
    package: str | None = None


REGISTRY: dict[str, BuiltIn] = {
    "frozenlake": BuiltIn(
        frozenlake.from_spec,
        "Cross a frozen lake to the goal around its holes; 4x4 or 8x8, slippery, random maps.",
        "frozenlake:4x4:random",
    ),
    "taxi": BuiltIn(no_arguments(Taxi), "Pick up a passenger and drop them at their depot.", "taxi"),
    "cliffwalking": BuiltIn(
        cliffwalking.from_spec, "Walk along a cliff to the goal; an optional step limit.", "cliffwalking:100"
    ),
    "blackjack": BuiltIn(no_arguments(Blackjack), "One hand of blackjack against the dealer.", "blackjack"),
    "textworld": BuiltIn(
        textworld_env.from_spec,
        "TextWorld text adventures generated per seed: simple, coin_collector, treasure_hunter.",
        "textworld:coin_collector:1",
        "textworld",
    ),
    "scienceworld": BuiltIn(
        scienceworld_env.from_spec,
        "ScienceWorld science tasks (needs Java); a task, a split and simplifications.",
        "scienceworld:boil:train",
        "scienceworld",
    ),
}


class UnknownEnvironment(ValueError):
    """A spec names no environment or gives it arguments it does not take."""


class FactoryFailed(UnknownEnvironment):
    """A factory outside the project could not be imported, found or called, or made no TextEnv."""


def installed_entry_points() -> dict[str, EntryPoint]:
    """The `rlem.envs` entry points of the installed distributions by name (the first of a name)."""
    found: dict[str, EntryPoint] = {}
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(entry_point.name, entry_point)
    return found


def distribution(entry_point: EntryPoint) -> str:
    """The name and version of the distribution an entry point comes from."""
    dist = entry_point.dist
    return f"{dist.name} {dist.version}" if dist is not None else "an unknown distribution"


def make_env(spec: str) -> TextEnv:
    """The environment a spec names, or UnknownEnvironment saying what exists or what to fix."""
    name, *arguments = spec.strip().split(":")
    if "." in name:
        return from_module(spec, name, arguments)
    if name in REGISTRY:
        package = REGISTRY[name].package
        if package is not None and importlib.util.find_spec(package) is None:
            raise UnknownEnvironment(
                f"environment {name!r} needs the {package} package, an extra of rlem: "
                f"pip install 'rlem[{name}]' (or RLEM_EXTRAS={name} python3 dev.py setup)"
            )
        try:
            return REGISTRY[name].parse(arguments)
        except ValueError as exc:
            raise UnknownEnvironment(f"bad spec {spec!r}: {exc}") from None
    plugins = installed_entry_points()
    if name in plugins:
        return from_entry_point(spec, plugins[name], arguments)
    raise UnknownEnvironment(
        f"unknown environment {name!r} in {spec!r}: known are {', '.join(sorted({*REGISTRY, *plugins}))}, "
        "or give package.module:factory (see `rlem envs`)"
    )


def from_entry_point(spec: str, entry_point: EntryPoint, arguments: list[str]) -> TextEnv:
    """Load an `rlem.envs` entry point and call it with the argument list."""
    where = f"entry point {entry_point.name!r} ({entry_point.value} from {distribution(entry_point)})"
    try:
        factory = entry_point.load()
    except Exception as exc:
        logger.debug("loading %s failed", where, exc_info=True)
        raise FactoryFailed(f"environment {spec!r}: cannot load {where}: {exception_text(exc)}") from exc
    return call_factory(spec, where, factory, arguments)


def from_module(spec: str, module_name: str, arguments: list[str]) -> TextEnv:
    """Import `module_name` and call its factory (the first argument) with the other arguments."""
    if not arguments or not arguments[0]:
        raise FactoryFailed(
            f"environment spec {spec!r} names module {module_name!r} but no factory: "
            f"write {module_name}:FACTORY[:ARGUMENT...]"
        )
    factory_name, *rest = arguments
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        logger.debug("importing %s failed", module_name, exc_info=True)
        hint = (
            " (install its package, or put the folder that holds it on PYTHONPATH)"
            if isinstance(exc, ModuleNotFoundError)
            else ""
        )
        raise FactoryFailed(
            f"environment {spec!r}: cannot import module {module_name!r}: {exception_text(exc)}{hint}"
        ) from exc
    if not hasattr(module, factory_name):
        own = defined_callables(module)
        offer = f"; it defines {', '.join(own[:10])}" if own else "; it defines no functions or classes"
        raise FactoryFailed(f"environment {spec!r}: module {module_name!r} has no {factory_name!r}{offer}")
    factory = getattr(module, factory_name)
    where = f"{module_name}:{factory_name}"
    if not callable(factory):
        raise FactoryFailed(
            f"environment {spec!r}: {where} is {shown(factory)}, not callable: "
            "name a function or class that returns a TextEnv"
        )
    return call_factory(spec, where, lambda arguments: factory(*arguments), rest)


def call_factory(
    spec: str, where: str, factory: Callable[[list[str]], object], arguments: list[str]
) -> TextEnv:
    """Call a factory outside the project (`where` in messages) and check that it made a TextEnv."""
    try:
        env = factory(arguments)
    except Exception as exc:
        logger.debug("%s failed", where, exc_info=True)
        raise FactoryFailed(
            f"environment {spec!r}: {where} failed on arguments {arguments}: {exception_text(exc)}"
        ) from exc
    if not isinstance(env, TextEnv):
        hint = (
            ": wrap it with envs.gymnasium_adapter.GymnasiumText"
            if isinstance(env, gym.Env)
            else ": return an instance of a TextEnv subclass (envs.base)"
        )
        raise FactoryFailed(f"environment {spec!r}: {where} returned {shown(env)}, not an envs.TextEnv{hint}")
    if not env.spec:
        env.spec = spec.strip()
    return env


def defined_callables(module: ModuleType) -> list[str]:
    """The public functions and classes a module defines itself (not those it imports), sorted."""
    names = [name for name, value in vars(module).items() if callable(value) and not name.startswith("_")]
    return sorted(
        name for name in names if getattr(vars(module)[name], "__module__", None) == module.__name__
    )


def exception_text(exc: BaseException) -> str:
    """An exception as `Type: message`."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def shown(value: object) -> str:
    """A value for a message: its short repr and, unless that says it already, its type."""
    kind = type(value)
    if value is None or kind in (bool, int, float, str):
        return reprlib.repr(value)
    name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    return f"{reprlib.repr(value)} (a {name})"
