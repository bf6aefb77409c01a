"""`rlem memory`: replay logged episodes into a memory, export it, import it."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from memory_store import Averaging, ExperienceStore, StoreConfig
from memory_store.formats.transfer import export_memory, read_memory_file
from rlem.commands import memory_edit, memory_inspect
from rlem.console import console, fail, progress
from rlem.options import DbOption, NamespaceOption, NStepOption, parse_n_step
from rlem.qlearning import Rule
from rlem.replay import replay
from rlem.trajectory import read_episodes

app = typer.Typer(help="Replay, export, import, inspect and edit experience memories.", no_args_is_help=True)


class Format(str, Enum):
    """The memory file formats (see memory_store.formats.transfer)."""

    json = "json"
    rememberer_yaml = "rememberer-yaml"


FormatOption = Annotated[Format, typer.Option("--format", "-f", help="File format.")]


# The update rule's defaults, as `rlem run` has them.
RULE = Rule()


@app.command("replay")
def replay_command(
    file: Annotated[Path, typer.Argument(help="Trajectory log (JSON Lines, one episode per line).")],
    db: DbOption,
    namespace: NamespaceOption = "default",
    n_step: NStepOption = str(RULE.n_step).lower(),
    gamma: Annotated[float, typer.Option(help="Discount factor in [0, 1].")] = RULE.gamma,
    update_mode: Annotated[
        Averaging, typer.Option("--update-mode", help="Running mean over visits, or a constant rate.")
    ] = RULE.mode,
    lr: Annotated[float, typer.Option(help="Learning rate of the const mode, in (0, 1].")] = RULE.lr,
    similarity_floor: Annotated[
        float | None, typer.Option(help="Bootstrap 0 from neighbours less similar than this.")
    ] = None,
    double_q: Annotated[bool, typer.Option("--double-q", help="Two Q tables, alternating.")] = False,
) -> None:
    """Apply logged episodes to the memory in file order, exactly as the live run would have."""
    try:
        rule = Rule(parse_n_step(n_step), gamma, update_mode, lr, similarity_floor, double_q)
    except ValueError as exc:
        fail(str(exc))
    episodes = read_episodes(file)
    with ExperienceStore.open(StoreConfig(url=db, namespace=namespace)) as store, progress() as bar:
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
        count = store.put(snapshots, replace=replace)
        total = len(store)
    console.print(f"imported {count} states into namespace {namespace} ({total} now)", markup=False)


memory_inspect.register(app)
memory_edit.register(app)
