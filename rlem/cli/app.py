"""The `rlem` command line."""

from __future__ import annotations

from typing import Annotated

import typer

from rlem.cli import backup, bench, db, demo, envs, keys, memory, run, serve
from rlem.cli.console import fail, setup_logging
from rlem.errors import user_message

app = typer.Typer(
    help="RLEM: an LLM agent that learns through a persistent experience memory.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(db.app, name="db")
app.add_typer(memory.app, name="memory")
app.add_typer(backup.app, name="backup")
app.add_typer(keys.app, name="keys")
app.command("demo")(demo.demo)
app.command("run")(run.run_command)
app.command("bench")(bench.bench_command)
app.command("envs")(envs.envs_command)
app.command("serve")(serve.serve_command)


@app.callback()
def root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show debug logs.")] = False,
) -> None:
    """RLEM: an LLM agent that learns through a persistent experience memory."""
    setup_logging(verbose)


def main() -> None:
    """Run the CLI; a problem the user can fix is one line on stderr and exit code 1 (2 for usage)."""
    try:
        code = app(standalone_mode=False)
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except typer.Abort:
        fail("aborted")
    except typer.TyperException as exc:
        if not exc.format_message():  # a group called bare: its help is already printed
            raise SystemExit(getattr(exc, "exit_code", 2)) from None
        # Usage errors: click's boxed message, as one line that says where the help is.
        context, names = getattr(exc, "ctx", None), []
        while context is not None and context.parent is not None:
            names.insert(0, context.info_name)
            context = context.parent
        command = " ".join(["rlem", *names])
        fail(f"{exc.format_message()} (see `{command} --help`)", getattr(exc, "exit_code", 2))
    except Exception as exc:
        message = user_message(exc)
        if message is None:
            raise
        fail(message)
    raise SystemExit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
