"""`rlem envs`: the environments `rlem run --env` can name."""

from __future__ import annotations

import importlib.util

from envs.registry import ENTRY_POINT_GROUP, REGISTRY, distribution, installed_entry_points
from rlem.cli.console import console


def built_in_lines() -> list[str]:
    """One line per shipped environment: its name, what it is, and a spec to try."""
    width = max(map(len, REGISTRY))
    lines = []
    for name, entry in sorted(REGISTRY.items()):
        missing = entry.package is not None and importlib.util.find_spec(entry.package) is None
        note = f" (needs the {entry.package} package, not installed)" if missing else ""
        lines.append(f"  {name:<{width}}  {entry.description} Try --env {entry.example}{note}")
    return lines


def entry_point_lines() -> list[str]:
    """One line per installed `rlem.envs` entry point: its name, where it comes from, and whether
    a built-in name shadows it."""
    found = installed_entry_points()
    if not found:
        return ["  (none installed)"]
    width = max(map(len, found))
    lines = []
    for name, entry_point in sorted(found.items()):
        if name in REGISTRY:
            note = " (shadowed: the built-in of this name wins)"
        elif "." in name:
            note = " (unreachable: a name with a dot is read as a module)"
        else:
            note = ""
        lines.append(f"  {name:<{width}}  from {distribution(entry_point)} ({entry_point.value}){note}")
    return lines


def envs_command() -> None:
    """List the environments for `rlem run --env SPEC`: the built-in names, those that installed
    packages register (entry points `rlem.envs`), and any `package.module:factory[:ARG...]`, which
    imports the module and calls factory(*ARGS) for a TextEnv."""
    lines = ["Built-in environments (--env NAME[:ARGUMENT...]):", *built_in_lines()]
    lines += [f"From installed packages (entry points {ENTRY_POINT_GROUP}):", *entry_point_lines()]
    lines += [
        "From any module: --env package.module:factory[:ARG...] imports package.module and calls "
        "factory(*ARGS), the arguments as strings, for an envs.TextEnv; "
        "envs.gymnasium_adapter.GymnasiumText wraps a gymnasium environment with Discrete actions."
    ]
    console.print("\n".join(lines), markup=False, highlight=False)
