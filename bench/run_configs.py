"""`rlem run` settings as the benchmarks write them: a `RunConfig`'s given fields as a TOML file
(`rlem run --config`) and as the equivalent command-line options, and the main job's file.

Only the fields a config was given (`model_fields_set`) are written, so a file says what an
experiment chose and leaves the rest to `rlem run`'s defaults. `db` and `out` are never written:
each experiment passes its own on the command line.
"""

from __future__ import annotations

import json
from pathlib import Path

from rlem.config import AgentConfig, RunConfig, read_config_file, spell_tasks

ROOT = Path(__file__).resolve().parents[1]
# The README's main job (dev.py run): SmolLM2 with the memory on FrozenLake maps it has never seen.
MAIN_JOB_FILE = ROOT / "examples" / "main_job.toml"
# Passed on the command line by whoever runs the config, never written into its file.
LOCAL = ("db",)


def main_job() -> RunConfig:
    """The main job's settings, read from examples/main_job.toml."""
    return RunConfig.model_validate(read_config_file(MAIN_JOB_FILE))


def field_order() -> list[str]:
    """Field names with the run's own (env, epochs, tasks, num_envs) first, then the agent's."""
    fields = list(RunConfig.model_fields)
    own = [name for name in fields if name not in AgentConfig.model_fields]
    return own + [name for name in fields if name not in own]


def given(config: RunConfig) -> dict[str, object]:
    """The fields `config` was given, in `field_order`, as TOML and option values spell them."""
    found: dict[str, object] = {}
    for name in field_order():
        if name not in config.model_fields_set or name in LOCAL:
            continue
        value = getattr(config, name)
        if name in ("train_tasks", "test_tasks"):
            value = spell_tasks(value)
        elif name == "n_step" and value is None:
            value = "none"
        elif isinstance(value, Path):
            value = str(value)
        elif value is None:
            raise ValueError(f"{name}=None cannot be written: leave the field out to take its default")
        found[name] = value
    return found


def toml_value(value: object) -> str:
    """One TOML value: a string, a bool, an int or a float (JSON's spelling of each is TOML's)."""
    if isinstance(value, bool | int | float | str):
        return json.dumps(value)
    raise TypeError(f"no TOML spelling for {value!r}")


def to_toml(config: RunConfig, header: str = "") -> str:
    """The given fields of `config` as a TOML file for `rlem run --config`, after `header` (comments)."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    return "\n".join(lines + [f"{name} = {toml_value(v)}" for name, v in given(config).items()]) + "\n"


def write_config(config: RunConfig, path: Path, header: str = "") -> Path:
    """Write `config` to `path` and check that `rlem run` reads back the same settings."""
    path.write_text(to_toml(config, header), encoding="utf-8")
    read = RunConfig.model_validate(read_config_file(path))
    if read != config.model_copy(update={name: getattr(read, name) for name in LOCAL}):
        raise ValueError(f"{path} does not read back as the config written")
    return path


def options(config: RunConfig) -> list[str]:
    """The `rlem run` options equivalent to the given fields of `config`."""
    found: list[str] = []
    for name, value in given(config).items():
        flag = "--" + name.replace("_", "-")
        if name == "double_q":
            found.append("--double-q" if value else "--single-q")
        else:
            found += [flag, str(value)]
    return found
