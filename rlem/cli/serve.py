"""`rlem serve`: the agent and its memory as an HTTP service."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from memory_store.errors import first_problem
from rlem.cli.console import fail
from rlem.cli.options import field_option, given_fields
from rlem.config import AgentConfig, ServeConfig, read_config_file
from rlem.service.server import serve


def agent_option(name: str, *flags: str, **extra: Any) -> Any:
    """The option of AgentConfig field `name` (the agent settings every namespace starts from)."""
    return field_option(AgentConfig, name, *flags, **extra)


def option(name: str, *flags: str, **extra: Any) -> Any:
    """The option of ServeConfig field `name`."""
    return field_option(ServeConfig, name, *flags, **extra)


def serve_command(
    config_file: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="TOML file of serve settings (agent ones in an agent table); options override it.",
        ),
    ] = None,
    db: Annotated[str | None, agent_option("db", "--db", envvar="RLEM_DB")] = None,
    policy: Annotated[str | None, agent_option("policy")] = None,
    decide: Annotated[str | None, agent_option("decide")] = None,
    model: Annotated[str | None, agent_option("model")] = None,
    beta: Annotated[float | None, agent_option("beta")] = None,
    temperature: Annotated[float | None, agent_option("temperature")] = None,
    k: Annotated[int | None, agent_option("k")] = None,
    pool_margin: Annotated[float | None, agent_option("pool_margin")] = None,
    token_budget: Annotated[int | None, agent_option("token_budget")] = None,
    advice_mode: Annotated[str | None, agent_option("advice_mode")] = None,
    explore: Annotated[float | None, agent_option("explore")] = None,
    seed: Annotated[int | None, agent_option("seed")] = None,
    host: Annotated[str | None, option("host")] = None,
    port: Annotated[int | None, option("port")] = None,
    auth: Annotated[bool | None, option("auth", "--auth/--no-auth")] = None,
    episode_ttl_s: Annotated[float | None, option("episode_ttl_s", "--episode-ttl")] = None,
    batch_wait_ms: Annotated[float | None, option("batch_wait_ms")] = None,
    max_batch: Annotated[int | None, option("max_batch")] = None,
    max_body_bytes: Annotated[int | None, option("max_body_bytes")] = None,
    max_page: Annotated[int | None, option("max_page")] = None,
    rate_limit: Annotated[float | None, option("rate_limit")] = None,
    key_cache_s: Annotated[float | None, option("key_cache_s")] = None,
    log_dir: Annotated[Path | None, option("log_dir")] = None,
    backup_dir: Annotated[Path | None, option("backup_dir")] = None,
) -> None:
    """Serve episodes, the memory, backups and API keys over HTTP (FastAPI on uvicorn)."""
    values = locals()
    try:
        settings = read_config_file(config_file) if config_file is not None else {}
        agent = settings.pop("agent", {}) | given_fields(AgentConfig, values)
        config = ServeConfig.model_validate(
            settings | given_fields(ServeConfig, values) | {"agent": AgentConfig.model_validate(agent)}
        )
    except ValueError as exc:  # pydantic's ValidationError is one
        fail(f"serve settings: {first_problem(exc) if isinstance(exc, ValidationError) else exc}")
    serve(config)
