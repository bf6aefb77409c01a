"""`rlem run`: the main job."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

from memory_store.errors import first_problem
from rlem.agent.run import Run
from rlem.cli.console import console, fail, progress
from rlem.cli.options import field_option, given_fields
from rlem.client import Server
from rlem.config import EPISODE_LEARNING, AgentConfig, RunConfig, read_config_file

# With --server, the agent's settings that belong to the server (its policy, memory and prompts): all
# but the learning rule's, which travel with each episode, and the episode's own.
SERVER_SIDE = sorted(
    set(AgentConfig.model_fields) - set(EPISODE_LEARNING) - {"namespace", "seed", "explore", "max_steps"}
)

# Every setting's one definition is RunConfig: the options below show its defaults and
# descriptions, default to None ("not given"), and only the given ones override a --config file.


def option(name: str, *flags: str, **extra: Any) -> Any:
    """The option of RunConfig field `name`."""
    return field_option(RunConfig, name, *flags, **extra)


def run_command(
    config_file: Annotated[
        Path | None,
        typer.Option(
            "--config", help="TOML file of run settings (field names as keys); options override it."
        ),
    ] = None,
    env: Annotated[str | None, option("env")] = None,
    policy: Annotated[str | None, option("policy")] = None,
    decide: Annotated[str | None, option("decide")] = None,
    model: Annotated[str | None, option("model")] = None,
    beta: Annotated[float | None, option("beta")] = None,
    temperature: Annotated[float | None, option("temperature")] = None,
    memory: Annotated[str | None, option("memory")] = None,
    static: Annotated[Path | None, option("static")] = None,
    static_format: Annotated[str | None, option("static_format")] = None,
    epochs: Annotated[int | None, option("epochs")] = None,
    train_tasks: Annotated[str | None, option("train_tasks")] = None,
    test_tasks: Annotated[str | None, option("test_tasks")] = None,
    db: Annotated[str | None, option("db", "--db", envvar="RLEM_DB")] = None,
    namespace: Annotated[
        str | None, option("namespace", "--namespace", "-n", envvar="RLEM_NAMESPACE")
    ] = None,
    out: Annotated[Path, typer.Option(help="Output folder (resumes if it holds this run).")] = Path(
        "runs/latest"
    ),
    num_envs: Annotated[int | None, option("num_envs")] = None,
    n_step: Annotated[str | None, option("n_step")] = None,
    gamma: Annotated[float | None, option("gamma")] = None,
    update_mode: Annotated[str | None, option("update_mode")] = None,
    lr: Annotated[float | None, option("lr")] = None,
    similarity_floor: Annotated[float | None, option("similarity_floor")] = None,
    double_q: Annotated[bool | None, option("double_q", "--double-q/--single-q")] = None,
    k: Annotated[int | None, option("k")] = None,
    pool_margin: Annotated[float | None, option("pool_margin")] = None,
    token_budget: Annotated[int | None, option("token_budget")] = None,
    advice_mode: Annotated[str | None, option("advice_mode")] = None,
    explore: Annotated[float | None, option("explore")] = None,
    max_steps: Annotated[int | None, option("max_steps")] = None,
    seed: Annotated[int | None, option("seed")] = None,
    retrieval_text: Annotated[str | None, option("retrieval_text")] = None,
    server: Annotated[
        str | None,
        typer.Option(help="Run the episodes against `rlem serve` at this URL (its policy and memory)."),
    ] = None,
    token: Annotated[
        str | None, typer.Option(envvar="RLEM_TOKEN", help="The API key for --server (act scope).")
    ] = None,
) -> None:
    """Train on the training tasks and evaluate on held-out ones, epoch after epoch."""
    given = given_fields(RunConfig, locals())
    if server is not None:
        theirs = sorted(set(given) & set(SERVER_SIDE))
        if theirs:
            names = ", ".join("--" + name.replace("_", "-") for name in theirs)
            fail(f"rlem run --server: {names} belong to the server (set them on `rlem serve`): drop them")
    elif token is not None:
        fail("--token is the API key of --server URL: give both, or neither")
    try:
        settings = read_config_file(config_file) if config_file is not None else {}
        config = RunConfig.model_validate(settings | given)
    except ValueError as exc:  # pydantic's ValidationError is one
        fail(f"run settings: {first_problem(exc) if isinstance(exc, ValidationError) else exc}")
    epochs = config.epochs
    total = epochs * (len(config.train_tasks) + len(config.test_tasks))
    remote = Server(server, token) if server is not None else None
    with Run(config, out, server=remote) as run, progress() as bar_view:
        bar = bar_view.add_task("episodes", total=total, completed=len(run.records))
        rows = []
        for epoch in range(1, epochs + 1):
            bar_view.update(bar, description=f"epoch {epoch}/{epochs}")
            rows = run.epoch(epoch, lambda: bar_view.advance(bar))
    who = f"rlem serve at {server}" if server is not None else f"{config.policy} with memory {config.memory}"
    table = Table(title=escape(f"{config.env}: {who}"))
    for column in ("epoch", "split", "n", "success", "return", "steps", "fallback", "advice", "memory"):
        table.add_column(column)
    for row in rows:
        advice = "-" if row["advice_following_rate"] is None else f"{row['advice_following_rate']:.2f}"
        table.add_row(
            str(row["epoch"]),
            row["split"],
            str(row["episodes"]),
            f"{row['success_rate']:.2f}",
            f"{row['mean_return']:.2f}",
            f"{row['mean_steps']:.1f}",
            f"{row['fallback_rate']:.2f}",
            advice,
            "-" if row["memory_size"] is None else str(row["memory_size"]),
        )
    console.print(table)
    console.print(f"learning curve: {out / 'learning_curve.png'}; logs and metrics in {out}/", markup=False)
