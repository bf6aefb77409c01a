"""Environments from outside the project: `package.module:factory[:ARG...]` specs and `rlem.envs`
entry points, and the one-line errors of each way to get them wrong."""

from __future__ import annotations

import sys

import pytest

from envs import make_env
from envs.checker import check_env
from envs.gymnasium_adapter import GymnasiumText
from envs.registry import FactoryFailed, UnknownEnvironment
from envs.taxi import Taxi


def refusal(spec: str) -> str:
    """The message make_env refuses `spec` with, checked to be one line."""
    with pytest.raises(UnknownEnvironment) as caught:
        make_env(spec)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_module_factory_gets_the_arguments_as_strings_and_its_env_the_spec(plugins):
    spec = plugins.spec("lake", "6", "fast")
    env = make_env(spec)
    calls = sys.modules[plugins.module].CALLS
    assert calls == [("6", "fast")]
    assert isinstance(env, GymnasiumText) and env.spec == spec
    assert check_env(env, episodes=5)["episodes"] == 5
    env.reset(seed=0)
    assert [env.step("go left").truncated for _ in range(6)][-1]


def test_a_spec_the_factory_sets_is_kept(plugins):
    assert make_env(plugins.spec("named_lake")).spec == "my-lake"


def test_a_module_that_does_not_import_is_named_with_the_import_error(plugins):
    message = refusal("rlem_nowhere_pkg.envs:make")
    assert message == (
        "environment 'rlem_nowhere_pkg.envs:make': cannot import module 'rlem_nowhere_pkg.envs': "
        "ModuleNotFoundError: No module named 'rlem_nowhere_pkg' (install its package, or put the "
        "folder that holds it on PYTHONPATH)"
    )
    assert "No module named 'a_dependency_nobody_installed'" in refusal(f"{plugins.package}.needs_missing:f")


def test_a_missing_factory_names_what_the_module_defines(plugins):
    message = refusal(plugins.spec("lak"))
    assert f"module {plugins.module!r} has no 'lak'; it defines " in message
    assert "lake, named_lake, no_actions, not_an_env" in message
    assert "no factory: write" in refusal(plugins.module)
    assert "NOT_CALLABLE is 3, not callable" in refusal(plugins.spec("NOT_CALLABLE"))


def test_a_factory_that_raises_is_one_line_with_its_error(plugins):
    assert refusal(plugins.spec("broken", "x")) == (
        f"environment '{plugins.module}:broken:x': {plugins.module}:broken failed on arguments ['x']: "
        "RuntimeError: the lamp is out"
    )
    assert "TypeError" in refusal(plugins.spec("from_arguments", "a", "b"))


def test_a_factory_returning_something_else_says_what(plugins):
    assert refusal(plugins.spec("not_an_env")).endswith(
        "not_an_env returned 42, not an envs.TextEnv: return an instance of a TextEnv subclass (envs.base)"
    )
    message = refusal(plugins.spec("raw_gymnasium"))
    assert "returned <TimeLimit" in message and "wrap it with envs.gymnasium_adapter.GymnasiumText" in message


def test_entry_points_take_the_argument_list_and_built_ins_win(plugins):
    plugins.register(
        {
            "puddle": f"{plugins.module}:from_arguments",
            "taxi": f"{plugins.module}:from_arguments",
            "lampless": f"{plugins.package}.gone:make",
        }
    )
    env = make_env("puddle:7")
    assert isinstance(env, GymnasiumText) and env.spec == "puddle:7"
    assert sys.modules[plugins.module].CALLS == [("7",)]
    assert isinstance(make_env("taxi"), Taxi)
    assert refusal("lampless") == (
        f"environment 'lampless': cannot load entry point 'lampless' ({plugins.package}.gone:make from "
        f"{plugins.distribution} 0.1): ModuleNotFoundError: No module named '{plugins.package}.gone'"
    )
    assert "known are blackjack, cliffwalking, frozenlake, lampless, puddle, scienceworld" in refusal("pond")


def test_an_unknown_name_is_a_plain_unknown_environment():
    with pytest.raises(UnknownEnvironment) as caught:
        make_env("pond:1")
    assert not isinstance(caught.value, FactoryFailed)
    assert str(caught.value).endswith("or give package.module:factory (see `rlem envs`)")
