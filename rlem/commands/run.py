"""`rlem run`: the main job."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

from memory_store import Averaging
from memory_store.errors import first_problem
from rlem.console import console, fail, progress
from rlem.options import DbOption, NamespaceOption, NStepOption, is_count, parse_n_step
from rlem.policies.factory import PolicySpec
from rlem.run import Run, RunConfig

# The one definition of every run setting is RunConfig; the options show its defaults.
DEFAULTS = RunConfig()


def spell_tasks(seeds: list[int]) -> str:
    """Seeds as `parse_tasks` reads them, runs of consecutive ones as `low-high`."""
    parts, start = [], 0
    for i in range(1, len(seeds) + 1):
        if i == len(seeds) or seeds[i] != seeds[i - 1] + 1:
            low, high = seeds[start], seeds[i - 1]
            parts.append(f"{low}-{high}" if high > low else str(low))
            start = i
    return ",".join(parts)


# Seeds one task list may name: a range like 0-99999999999999 would fill the memory first.
MAX_TASKS = 1_000_000


def parse_tasks(text: str) -> list[int]:
    """`0-19`, `3,5,8`, or a mix: environment seeds."""
    seeds: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        low, _, high = part.partition("-")
        if not all(is_count(n) for n in (low, high or low)):
            fail(f"task list {text[:40]!r}: use seeds like 0-19 or 3,5,8")
        first, last = int(low), int(high or low)
        if last < first:
            fail(f"task range {part!r} runs backwards: write it low-high, like {last}-{first}")
        if len(seeds) + last - first + 1 > MAX_TASKS:
            fail(f"task list {text[:40]!r} names more than {MAX_TASKS:,} seeds")
        seeds.extend(range(first, last + 1))
    return seeds


def policy_spec(
    policy: str,
    decide: str | None,
    model: str | None,
    beta: float | None,
    temperature: float | None,
    seed: int,
) -> PolicySpec:
    """The --policy, --decide, --model, --beta and --temperature options as a backend spec."""
    settings: dict = {}
    if beta is not None and not (policy == "hf" and decide == "guided"):
        fail("--beta weighs the memory's values in --policy hf --decide guided, and only there")
    if temperature is not None and not (policy == "hf" and decide in (None, "score", "guided")):
        fail("--temperature is for --policy hf with --decide score or guided")
    if policy in ("hf", "llamacpp"):
        settings = (
            {"seed": seed}
            | ({"model": model} if model else {})
            | ({"decide": decide} if decide else {})
            | ({"beta": beta} if beta is not None else {})
            | ({"temperature": temperature} if temperature is not None else {})
        )
    elif policy == "openai":
        if not model:
            fail("--policy openai needs --model NAME@URL, e.g. smollm2@http://127.0.0.1:8000/v1")
        name, _, url = model.partition("@")
        settings = (
            {"model": name, "seed": seed}
            | ({"base_url": url} if url else {})
            | ({"decide": decide} if decide else {})
        )
    elif policy in ("memory-greedy", "random"):
        settings = {"seed": seed}
    else:
        fail(f"unknown policy {policy!r}: choose hf, openai, llamacpp, memory-greedy or random")
    return PolicySpec(backend=policy, settings=settings)


def run_command(
    env: Annotated[
        str,
        typer.Option(
            help="Environment spec, e.g. frozenlake:4x4:random, taxi, or package.module:factory[:ARG...] "
            "(see `rlem envs`)."
        ),
    ] = DEFAULTS.env,
    policy: Annotated[str, typer.Option(help="hf, openai, llamacpp, memory-greedy or random.")] = (
        DEFAULTS.policy.backend
    ),
    decide: Annotated[str | None, typer.Option(help="generate, score or guided (LLM policies).")] = None,
    model: Annotated[str | None, typer.Option(help="Model path (hf, llamacpp) or NAME@URL (openai).")] = None,
    beta: Annotated[
        float | None,
        typer.Option(min=0, help="guided: weight of the memory's values against the model's (default 5)."),
    ] = None,
    temperature: Annotated[
        float | None,
        typer.Option(min=0, help="hf score/guided: training draws from softmax(total/T); 0 takes the best."),
    ] = None,
    memory: Annotated[
        str, typer.Option(help="rlem (learn), static (fixed exemplars) or off.")
    ] = DEFAULTS.memory,
    static: Annotated[
        Path | None, typer.Option(help="Memory file of fixed exemplars (--memory static).")
    ] = None,
    static_format: Annotated[str, typer.Option(help="json or rememberer-yaml.")] = DEFAULTS.static_format,
    epochs: Annotated[int, typer.Option(min=1)] = DEFAULTS.epochs,
    train_tasks: Annotated[str, typer.Option(help="Training environment seeds.")] = spell_tasks(
        DEFAULTS.train_tasks
    ),
    test_tasks: Annotated[str, typer.Option(help="Held-out evaluation seeds.")] = spell_tasks(
        DEFAULTS.test_tasks
    ),
    db: DbOption = DEFAULTS.db,
    namespace: NamespaceOption = DEFAULTS.namespace,
    out: Annotated[Path, typer.Option(help="Output folder (resumes if it holds this run).")] = Path(
        "runs/latest"
    ),
    num_envs: Annotated[
        int, typer.Option(min=1, help="Environments stepped in lockstep, one policy batch.")
    ] = DEFAULTS.num_envs,
    n_step: NStepOption = str(DEFAULTS.n_step).lower(),
    gamma: Annotated[float, typer.Option(min=0, max=1, help="Discount factor.")] = DEFAULTS.gamma,
    update_mode: Annotated[
        Averaging, typer.Option(help="Running mean over visits, or a constant rate.")
    ] = DEFAULTS.update_mode,
    lr: Annotated[float, typer.Option(help="Learning rate of the const mode.")] = DEFAULTS.lr,
    double_q: Annotated[bool, typer.Option("--double-q")] = False,
    k: Annotated[
        int, typer.Option(min=0, help="Similar states retrieved per decision (shown while they fit).")
    ] = DEFAULTS.k,
    pool_margin: Annotated[
        float,
        typer.Option(
            min=0,
            max=2,
            help="Deciding in a situation the memory has not met: the most similar state and those "
            "within this much cosine of it stand in for it.",
        ),
    ] = DEFAULTS.pool_margin,
    token_budget: Annotated[
        int,
        typer.Option(min=1, help="Prompt length limit in tokens: exemplars that do not fit are left out."),
    ] = DEFAULTS.token_budget,
    explore: Annotated[
        float,
        typer.Option(help="Share of training decisions taken at random (epsilon-greedy), any policy."),
    ] = DEFAULTS.explore,
    max_steps: Annotated[
        int | None,
        typer.Option(min=1, help="End episodes after this many steps; default: the environment's limit."),
    ] = None,
    seed: Annotated[int, typer.Option()] = DEFAULTS.seed,
    retrieval_text: Annotated[
        str | None,
        typer.Option(
            help="Match similar states on task+observation or the observation alone; "
            "default: what the environment suggests (observation for random FrozenLake maps)."
        ),
    ] = None,
) -> None:
    """Train on the training tasks and evaluate on held-out ones, epoch after epoch."""
    try:
        config = RunConfig(
            env=env,
            policy=policy_spec(policy, decide, model, beta, temperature, seed),
            memory=memory,
            epochs=epochs,
            train_tasks=parse_tasks(train_tasks),
            test_tasks=parse_tasks(test_tasks),
            db=db,
            namespace=namespace,
            num_envs=num_envs,
            n_step=parse_n_step(n_step),
            gamma=gamma,
            update_mode=update_mode,
            lr=lr,
            double_q=double_q,
            k=k,
            pool_margin=pool_margin,
            explore=explore,
            max_steps=max_steps,
            token_budget=token_budget,
            static=static,
            static_format=static_format,
            seed=seed,
            retrieval_text=retrieval_text,
        )
    except ValidationError as exc:
        fail(f"run settings: {first_problem(exc)}")
    total = epochs * (len(config.train_tasks) + len(config.test_tasks))
    with Run(config, out) as run, progress() as bar_view:
        bar = bar_view.add_task("episodes", total=total, completed=len(run.records))
        rows = []
        for epoch in range(1, epochs + 1):
            bar_view.update(bar, description=f"epoch {epoch}/{epochs}")
            rows = run.epoch(epoch, lambda: bar_view.advance(bar))
    table = Table(title=escape(f"{env}: {policy} with memory {memory}"))
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
