"""`rlem memory namespaces|stats|ls|show|search|audit`: looking into a memory without changing it.

Every command prints rich tables by default and plain JSON with `--json`, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from memory_store import SentenceTransformerEmbedder, default_embedder
from memory_store.admin.audit import audit_log
from memory_store.admin.inspection import (
    list_states,
    namespace_stats,
    namespace_summaries,
    show_state,
    storage_note,
)
from memory_store.db.database import Database, parse_url, require_existing
from memory_store.errors import InvalidArgument
from memory_store.limits import MAX_INT
from memory_store.store import open_database
from rlem.agent.lookup import look_up
from rlem.cli.console import console
from rlem.cli.memory_render import (
    add_row,
    audit_table,
    number,
    print_json,
    size,
    state_cell,
    state_facts,
    state_table,
    table,
    when,
)
from rlem.cli.options import DbOption, NamespaceOption, StateArgument

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of tables.")]
AnyNamespaceOption = Annotated[
    str | None, typer.Option("--namespace", "-n", help="Only this namespace (default: all).")
]
ModelOption = Annotated[
    Path | None,
    typer.Option("--model", help="Sentence-transformers model directory (default: the packaged MiniLM)."),
]


@contextmanager
def connected(url: str) -> Iterator[Database]:
    """An existing memory database, closed afterwards; a missing SQLite file is an error, not created."""
    require_existing(parse_url(url))
    db = open_database(url, create=False)
    try:
        yield db
    finally:
        db.close()


def embedder_for(model: Path | None) -> SentenceTransformerEmbedder:
    """The embedder of `--model`, or the packaged default."""
    return SentenceTransformerEmbedder(model) if model is not None else default_embedder()


def namespaces_command(db: DbOption, as_json: JsonOption = False) -> None:
    """List namespaces: states, actions, embedding model, size on disk, last update."""
    with connected(db) as database:
        summaries = namespace_summaries(database)
        note = storage_note(database)
    if as_json:
        print_json({"db_bytes_means": note, "namespaces": summaries})
        return
    shown = table(
        ["namespace", "states", "actions", "model", "dim", "database", "index", "updated"],
        {"states", "actions", "dim", "database", "index", "updated"},
        caption=f"database: {note}; index: FAISS index file(s); updated: UTC",
    )
    for s in summaries:
        add_row(
            shown,
            s.name,
            str(s.states),
            str(s.actions),
            s.embedding_model,
            str(s.embedding_dim),
            size(s.db_bytes),
            size(s.index_bytes) if s.index_bytes else "none",
            when(s.last_update),
        )
    console.print(shown)


def stats_command(
    db: DbOption,
    namespace: NamespaceOption = "default",
    top: Annotated[int, typer.Option(min=1, max=MAX_INT, help="How many example states to list.")] = 10,
    as_json: JsonOption = False,
) -> None:
    """Counts, the Q distribution, the most visited states, states whose best action is not positive."""
    with connected(db) as database:
        stats = namespace_stats(database, namespace, top)
    if as_json:
        print_json(stats)
        return
    evictions = ", ".join(f"{n} {kind}" for kind, n in stats.evictions.items()) or "none"
    console.print(
        f"namespace {stats.namespace}: {stats.states} states, {stats.actions} action values, "
        f"{stats.visits} state visits; evictions so far: {evictions}",
        markup=False,
    )
    if stats.q is not None:
        q = stats.q
        console.print(
            f"Q: min {number(q.min)}, p25 {number(q.p25)}, median {number(q.median)}, "
            f"p75 {number(q.p75)}, max {number(q.max)}, mean {number(q.mean)}",
            markup=False,
        )
        histogram = table(["from", "to", "actions", ""], {"from", "to", "actions"}, title="Q histogram")
        peak = max(count for _, _, count in q.histogram)
        for low, high, count in q.histogram:
            add_row(histogram, number(low), number(high), str(count), "█" * round(30 * count / peak))
        console.print(histogram)
    console.print(state_table("most visited states", stats.most_visited))
    title = f"states whose best action is not positive: {stats.not_positive}"
    if stats.not_positive:
        console.print(state_table(title, stats.not_positive_examples))
    else:
        console.print(title, markup=False)


def parse_since(text: str | None) -> datetime | None:
    """An ISO date or date-time; one without a zone is UTC."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidArgument(
            f"--since wants an ISO date or date-time like 2026-11-28T12:00, got {text!r}"
        ) from None
    try:  # in UTC, as the database compares: 9999-12-31T23:59-01:00 is beyond year 9999 there
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError:
        raise InvalidArgument(
            f"--since {text!r} is out of range in UTC: give a date within the years 1 to 9999"
        ) from None


def ls_command(
    db: DbOption,
    namespace: NamespaceOption = "default",
    task: Annotated[str | None, typer.Option(help="Only tasks containing this text (any case).")] = None,
    min_visits: Annotated[
        int | None, typer.Option(min=0, max=MAX_INT, help="Only states visited at least this often.")
    ] = None,
    since: Annotated[str | None, typer.Option(help="Only states updated since (ISO date, UTC).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_INT, help="States per page.")] = 20,
    offset: Annotated[int, typer.Option(min=0, max=MAX_INT, help="States to skip.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """List states by id, filtered and a page at a time."""
    with connected(db) as database:
        page = list_states(
            database,
            namespace,
            task=task,
            min_visits=min_visits,
            since=parse_since(since),
            offset=offset,
            limit=limit,
        )
    if as_json:
        print_json(page)
        return
    console.print(state_table(f"namespace {namespace}", page.states))
    shown = f"{offset + 1}-{offset + len(page.states)}" if page.states else "none"
    more = f" (next page: --offset {offset + limit})" if offset + limit < page.total else ""
    console.print(f"states {shown} of {page.total}{more}", markup=False)


def show_command(
    state_id: StateArgument,
    db: DbOption,
    as_json: JsonOption = False,
) -> None:
    """One state with all its actions: Q, visits, rewards, reasons, and its action history."""
    with connected(db) as database:
        detail = show_state(database, state_id)
    if as_json:
        print_json(detail)
        return
    console.print(state_facts(detail.namespace, detail.experience))
    actions = table(["action", "Q", "reward", "visits", "reason"], {"Q", "reward", "visits"}, title="actions")
    for a in sorted(detail.experience.actions, key=lambda a: -a.q):
        add_row(actions, a.action, number(a.q), number(a.reward), str(a.visits), a.reason or "-")
    console.print(actions)


def search_command(
    text: Annotated[str, typer.Argument(help="The observation to retrieve for.")],
    db: DbOption,
    namespace: NamespaceOption = "default",
    task: Annotated[str, typer.Option(help="The task the agent would be doing.")] = "",
    k: Annotated[int, typer.Option("-k", min=1, help="How many states to retrieve.")] = 5,
    model: ModelOption = None,
    as_json: JsonOption = False,
) -> None:
    """What the agent would retrieve for this observation (its own retrieval code), with similarity."""
    with connected(db) as database:
        found = look_up(database, namespace, task, text, k, embedder_for(model))
    hits = found.hits
    if as_json:
        print_json(found)
        return
    caption = f"merged with the second Q table {found.merged_with}" if found.merged_with else None
    shown = table(
        ["rank", "similarity", "id", "visits", "best action", "Q", "state"],
        {"rank", "similarity", "id", "visits", "Q"},
        title=f"retrieved from namespace {namespace}",
        caption=caption,
    )
    for rank, hit in enumerate(hits, start=1):
        e, best = hit.experience, hit.experience.best_action()
        add_row(
            shown,
            str(rank),
            f"{hit.similarity:.4f}",
            str(e.id),
            str(e.visits),
            best.action if best else "-",
            number(best.q if best else None),
            state_cell(e.task, e.observation),
        )
    console.print(shown)


def audit_command(
    db: DbOption,
    namespace: AnyNamespaceOption = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_INT, help="How many rows, newest first.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """The audit log of changes made by hand: when, which command, what, old and new values."""
    with connected(db) as database:
        rows = audit_log(database, namespace, limit)
    if as_json:
        print_json(rows)
        return
    console.print(audit_table(rows))


def register(app: typer.Typer) -> None:
    """Add these commands to `rlem memory`."""
    app.command("namespaces")(namespaces_command)
    app.command("stats")(stats_command)
    app.command("ls")(ls_command)
    app.command("show")(show_command)
    app.command("search")(search_command)
    app.command("audit")(audit_command)
