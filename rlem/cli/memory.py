"""`rlem memory`: replay logged episodes into a memory, export it, import it."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from memory_store import ExperienceStore, StoreConfig
from memory_store.errors import first_problem
from memory_store.formats.transfer import export_memory, read_memory_file, write_states
from rlem.cli import memory_edit, memory_inspect
from rlem.cli.console import console, fail, progress
from rlem.cli.memory_edit import CLI
from rlem.cli.options import DbOption, NamespaceOption, field_option, given_fields
from rlem.config import AgentConfig
from rlem.learning.learner import replay
from rlem.learning.trajectory import read_episodes

app = typer.Typer(help="Replay, export, import, inspect and edit experience memories.", no_args_is_help=True)


class Format(StrEnum):
    """The memory file formats (see memory_store.formats.transfer)."""

    json = "json"
    rememberer_yaml = "rememberer-yaml"


FormatOption = Annotated[Format, typer.Option("--format", "-f", help="File format.")]


def rule_option(name: str, *flags: str) -> typer.models.OptionInfo:
    """The option of the update rule's AgentConfig field `name`."""
    return field_option(AgentConfig, name, *flags)


@app.command("replay")
def replay_command(
    file: Annotated[Path, typer.Argument(help="Trajectory log (JSON Lines, one episode per line).")],
    db: DbOption,
    namespace: NamespaceOption = "default",
    n_step: Annotated[str | None, rule_option("n_step")] = None,
    gamma: Annotated[float | None, rule_option("gamma")] = None,
    update_mode: Annotated[str | None, rule_option("update_mode")] = None,
    lr: Annotated[float | None, rule_option("lr")] = None,
    similarity_floor: Annotated[float | None, rule_option("similarity_floor")] = None,
    double_q: Annotated[bool | None, rule_option("double_q", "--double-q/--single-q")] = None,
    retrieval_text: Annotated[
        str | None,
        typer.Option(
            help="How a new namespace matches states: task+observation or observation (as the run's did)."
        ),
    ] = None,
) -> None:
    """Apply logged episodes to the memory in the order they were applied live (the log's sequence
    numbers; file order for logs without them), exactly as the live run did."""
    given = given_fields(AgentConfig, locals())
    try:
        rule = AgentConfig.model_validate(given | {"policy": "random"}).rule()
    except ValidationError as exc:
        fail(f"replay settings: {first_problem(exc)}")
    episodes = read_episodes(file)
    try:
        config = StoreConfig(
            url=db, namespace=namespace, **({"retrieval_text": retrieval_text} if retrieval_text else {})
        )
    except ValidationError as exc:
        fail(f"replay settings: {first_problem(exc)}")
    with ExperienceStore.open(config) as store, progress() as bar:
        task = bar.add_task("replaying episodes", total=len(episodes))
        replay(store, episodes, rule, on_episode=lambda done: bar.update(task, completed=done))
        states, actions = len(store), store.action_count()
    console.print(
        f"replayed {len(episodes)} episodes from {file} into namespace {namespace}: "
        f"{states} states, {actions} action values",
        markup=False,
    )


@app.command("export")
def export_command(
    db: DbOption,
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write.")],
    format: FormatOption = Format.json,
    namespace: NamespaceOption = "default",
) -> None:
    """Write a namespace to a file (JSON, or the REMEMBERER paper's YAML pool format)."""
    config = StoreConfig(url=db, namespace=namespace, persist_index=False)
    with ExperienceStore.open(config, create=False) as store:
        count = export_memory(store, output, format.value)
    console.print(f"exported {count} states of namespace {namespace} to {output}", markup=False)


@app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="Memory file to read.")],
    db: DbOption,
    format: FormatOption = Format.json,
    namespace: NamespaceOption = "default",
    replace: Annotated[bool, typer.Option("--replace", help="Overwrite states already stored.")] = False,
) -> None:
    """Read and check a whole memory file, then write all of it in one transaction (or nothing)."""
    config = StoreConfig(url=db, namespace=namespace)
    # The whole file is checked before the namespace is made, so a bad one leaves nothing behind.
    snapshots = read_memory_file(file, format.value, config.limits)
    with ExperienceStore.open(config) as store:
        count = write_states(store, snapshots, replace=replace, actor=CLI)
        total = len(store)
    console.print(f"imported {count} states into namespace {namespace} ({total} now)", markup=False)


memory_inspect.register(app)
memory_edit.register(app)
