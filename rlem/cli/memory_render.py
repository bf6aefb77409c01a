"""How `rlem memory` shows things: JSON for scripts, and rich tables that stay legible in 80 columns."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from memory_store.admin.audit import AuditRecord
from memory_store.admin.inspection import StateLine
from memory_store.records import ExperienceRecord

TEXT_WIDTH = 60


def plain(value: Any) -> Any:
    """JSON-ready data from records (dataclasses, tuples, datetimes)."""
    if dataclasses.is_dataclass(value):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def print_json(data: Any) -> None:
    """Write data as indented JSON to stdout, untouched by rich."""
    typer.echo(json.dumps(plain(data), indent=1, ensure_ascii=False))


def short(text: str, width: int = TEXT_WIDTH) -> str:
    """One line of at most `width` characters."""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def when(moment: datetime) -> str:
    """A timestamp to the minute, in UTC (the JSON output has it exactly)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def size(count: int) -> str:
    """Bytes in readable units."""
    value, unit = float(count), "B"
    for bigger in ("KiB", "MiB", "GiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"


def number(value: float | None) -> str:
    """A Q value or reward for a table cell."""
    return "-" if value is None else f"{value:.4g}"


def table(
    columns: list[str], numeric: set[str], title: str | None = None, caption: str | None = None
) -> Table:
    """A table without vertical rules; numbers right-aligned and never wrapped, text folded when narrow."""
    made = Table(
        title=title, caption=caption, title_justify="left", caption_justify="left", box=box.SIMPLE_HEAD
    )
    for name in columns:
        if name in numeric:
            made.add_column(name, justify="right", no_wrap=True)
        else:
            made.add_column(name, overflow="fold", min_width=10)
    return made


def add_row(target: Table, *cells: str | Text) -> None:
    """Add a row; plain strings are shown as they are (stored text may contain rich markup brackets)."""
    target.add_row(*(cell if isinstance(cell, Text) else Text(cell) for cell in cells))


def state_cell(task: str, observation: str) -> Text:
    """A state as its observation, with its task dimmed underneath."""
    return Text.assemble(short(observation), "\n", (short(task), "dim"))


def state_table(title: str, lines: list[StateLine]) -> Table:
    """States one per row: id, visits, best action and its Q, last update, observation and task."""
    shown = table(
        ["id", "visits", "actions", "best action", "Q", "updated", "state"],
        {"id", "visits", "actions", "Q", "updated"},
        title=title,
    )
    for s in lines:
        add_row(
            shown,
            str(s.id),
            str(s.visits),
            str(s.actions),
            s.best_action or "-",
            number(s.best_q),
            when(s.updated_at),
            state_cell(s.task, s.observation),
        )
    return shown


def state_facts(namespace: str, e: ExperienceRecord) -> Table:
    """Everything stored about one state except its actions, one fact per line."""
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold", no_wrap=True)
    facts.add_column(overflow="fold")
    for key, value in [
        ("state", f"{e.id} in namespace {namespace}"),
        ("task", e.task),
        ("observation", e.observation),
        ("available actions", ", ".join(e.available_actions) or "-"),
        ("visits", str(e.visits)),
        ("arrival reward", number(e.last_reward)),
        ("return so far", number(e.total_reward)),
        ("action history", " → ".join(e.action_history) or "-"),
        ("extra", e.extra or "-"),
        ("created, updated", f"{when(e.created_at)}, {when(e.updated_at)} UTC"),
    ]:
        add_row(facts, key, value)
    return facts


def compact(value: Any) -> str:
    """An audit value in a few characters: numbers rounded, anything else as short JSON."""
    if isinstance(value, float):
        return number(value)
    return short(json.dumps(value, ensure_ascii=False), 40)


def target(r: AuditRecord) -> str:
    """What an audit row changed: a field of one action, a state, or a whole namespace."""
    if r.action is not None:
        return f"{r.what} of {r.action!r} in state {r.state_id}"
    return r.what if r.state_id is None else f"{r.what} {r.state_id}"


def audit_table(rows: list[AuditRecord]) -> Table:
    """Audit rows, newest first."""
    shown = table(
        ["id", "at", "by", "command", "namespace", "what", "old → new"],
        {"id", "at"},
        title="audit log, newest first (UTC)",
    )
    for r in rows:
        add_row(
            shown,
            str(r.id),
            when(r.at),
            r.actor or "-",
            r.command,
            r.namespace,
            target(r),
            f"{compact(r.old_value)} → {compact(r.new_value)}",
        )
    return shown
