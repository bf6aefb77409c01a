"""Errors a user can act on, and the one place that turns any of them into one line.

The CLI (and the service) call `user_message`: an error the user can fix, or one of the machine
(a full disk), becomes one line saying what happened and what to do; anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import errno

from pydantic import ValidationError
from sqlalchemy.exc import OperationalError

from envs.registry import UnknownEnvironment
from memory_store.errors import StoreError, first_problem


class RlemError(Exception):
    """Base class of rlem's user-facing errors."""


# What a full disk leaves behind: every write goes through a transaction or an atomic rename.
KEPT = "every committed transaction and finished file is kept, nothing half-written remains"


def user_message(exc: BaseException) -> str | None:
    """The one-line message for an error the user can act on, or None for a bug."""
    if isinstance(exc, (StoreError, RlemError, UnknownEnvironment)):
        return str(exc)
    if isinstance(exc, ValidationError):
        return first_problem(exc)
    if isinstance(exc, UnicodeEncodeError) and exc.reason == "surrogates not allowed":
        # Python reads argument bytes that are not UTF-8 as lone surrogates, which nothing can store.
        return (
            f"{exc.object[:60]!r} holds bytes that are not UTF-8 text "
            "(an argument in another encoding?): give it in UTF-8"
        )
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        where = f" writing {exc.filename}" if exc.filename else ""
        return f"no space left on the device{where}: free some and run again ({KEPT})"
    if isinstance(exc, OperationalError) and full_database(exc):
        return f"the database's disk is full: free some space and run again ({KEPT})"
    return None


def full_database(exc: OperationalError) -> bool:
    """Whether a database error says its disk is full (SQLite's SQLITE_FULL, PostgreSQL's 53100)."""
    text = str(exc.orig)
    return "database or disk is full" in text or getattr(exc.orig, "sqlstate", None) == "53100"
