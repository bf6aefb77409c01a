"""Errors of the agent layer that a user can act on; the CLI prints their message as one line."""

from __future__ import annotations


class RlemError(Exception):
    """Base class of rlem's user-facing errors."""
