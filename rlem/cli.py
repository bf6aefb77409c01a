"""The `rlem` command line."""

from __future__ import annotations

from typing import Annotated

import typer

from memory_store.errors import StoreError
from rlem.commands import backup, bench, db, demo, memory, run
from rlem.console import fail, setup_logging
from rlem.errors import RlemError

app = typer.Typer(
    help="RLEM: an LLM agent that learns through a persistent experience memory.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(db.app, name="db")
app.add_typer(memory.app, name="memory")
app.add_typer(backup.app, name="backup")
app.command("demo")(demo.demo)
app.command("run")(run.run_command)
app.command("bench")(bench.bench_command)


@app.callback()
def root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show debug logs.")] = False,
) -> None:
    """RLEM: an LLM agent that learns through a persistent experience memory."""
    setup_logging(verbose)


def main() -> None:
    """Run the CLI; a problem the user can fix is one line on stderr and exit code 1."""
    try:
        app()
    except (StoreError, RlemError) as exc:
        fail(str(exc))


if __name__ == "__main__":
    main()
