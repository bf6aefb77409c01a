"""What one state may hold, checked before anything is embedded or written.

The same rules on SQLite and PostgreSQL, so that any memory one accepts the other accepts too:
texts without NUL characters (PostgreSQL cannot store them) or lone surrogates (not Unicode text)
and of bounded length, a bounded number of actions per state, counts that fit a signed 64-bit
column, and finite numbers. The bounds are `Limits`, part of `StoreConfig`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field

from memory_store.errors import InvalidArgument
from memory_store.records import StateSnapshot, Update

# Ids and counts are 64-bit signed integers on both backends.
MAX_INT = 2**63 - 1


class Limits(BaseModel):
    """Bounds on one state; raise them in `StoreConfig(limits=...)` for larger environments."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Characters in one task, observation, action, reason or extra text (a WebShop page is ~10k).
    max_text_chars: int = Field(default=100_000, ge=1)
    # Entries in one state's available actions, action history or stored action values.
    max_actions: int = Field(default=1_000, ge=1)


def check_text(text: str, what: str, limits: Limits) -> None:
    """Refuse a text that is not one, holds NUL or exceeds the length limit."""
    if not isinstance(text, str):
        raise InvalidArgument(f"{what} must be text, got {type(text).__name__} {text!r:.40}")
    if "\x00" in text:
        raise InvalidArgument(
            f"{what} {text[:40]!r}... holds a NUL character, which PostgreSQL cannot store: remove it"
        )
    check_unicode(text, what)
    if len(text) > limits.max_text_chars:
        raise InvalidArgument(
            f"{what} of {len(text):,} characters ({text[:40]!r}...) exceeds the limit of "
            f"{limits.max_text_chars:,}: shorten it or raise Limits.max_text_chars"
        )


def check_unicode(text: str, what: str) -> None:
    """Refuse a text with a lone surrogate (what undecodable bytes become): not Unicode, so no
    database can store it nor the embedder read it."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidArgument(
                f"{what} {text[:40]!r}... holds a lone surrogate {text[exc.start]!r}, which is not "
                "Unicode text: remove it, or give the text in UTF-8"
            ) from None


def check_list(items: Iterable[str], what: str, limits: Limits) -> None:
    """Refuse too many entries, or any entry check_text refuses."""
    items = list(items)
    if len(items) > limits.max_actions:
        raise InvalidArgument(
            f"{len(items):,} {what} exceed the limit of {limits.max_actions:,} per state: "
            "raise Limits.max_actions"
        )
    for item in items:
        check_text(item, what.rstrip("s"), limits)


def check_number(value: float, what: str) -> None:
    """Refuse NaN and infinities."""
    if not math.isfinite(value):
        raise InvalidArgument(f"{what} is {value}: values must be finite numbers")


def check_count(value: int, what: str) -> None:
    """Refuse a count below 0 or beyond a 64-bit column."""
    if not 0 <= value <= MAX_INT:
        # A file may hold thousands of digits, more than Python writes out (or a message should).
        shown = value if value.bit_length() <= 128 else f"a number of {value.bit_length():,} bits"
        raise InvalidArgument(f"{what} is {shown}: counts must be between 0 and {MAX_INT}")


def check_update(item: Update, limits: Limits) -> None:
    """Refuse an update the memory could not store as given."""
    for what, text in (("task", item.task), ("observation", item.observation), ("action", item.action)):
        check_text(text, what, limits)
    check_text(item.reason, "reason", limits)
    check_text(item.extra, "extra", limits)
    check_list(item.available_actions, "available actions", limits)
    check_list(item.action_history, "action history entries", limits)
    for what, value in (
        ("target", item.target),
        ("reward", item.reward),
        ("last_reward", item.last_reward),
        ("total_reward", item.total_reward),
    ):
        check_number(value, what)


def check_snapshot(state: StateSnapshot, limits: Limits) -> None:
    """Refuse a whole state the memory could not store as given."""
    for what, text in (("task", state.task), ("observation", state.observation), ("extra", state.extra)):
        check_text(text, what, limits)
    check_list(state.available_actions, "available actions", limits)
    check_list(state.action_history, "action history entries", limits)
    check_list([a.action for a in state.actions], "action values", limits)
    check_count(state.visits, "visits")
    check_number(state.last_reward, "last_reward")
    check_number(state.total_reward, "total_reward")
    for value in state.actions:
        check_text(value.reason, "reason", limits)
        check_count(value.visits, f"visits of {value.action!r}")
        check_number(value.q, f"Q of {value.action!r}")
        check_number(value.reward, f"reward of {value.action!r}")
