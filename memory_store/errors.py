"""Errors a user can act on: each one's message is one line saying what happened and what to do."""

from __future__ import annotations

from pydantic import ValidationError


class StoreError(Exception):
    """Base class for every problem the experience store reports to its caller."""


class DatabaseURLError(StoreError):
    """The database URL is malformed, unsupported, or points at something that is not a database."""


class DatabaseUnavailable(StoreError):
    """The database server or file cannot be reached or opened."""


class SchemaOutOfDate(StoreError):
    """The database was created by an older rlem and needs `rlem db upgrade`."""


class SchemaTooNew(StoreError):
    """The database was written by a newer rlem than this one."""


class UnknownNamespace(StoreError):
    """No namespace of that name exists in the database."""


class NotFound(StoreError):
    """A state or action named by the caller does not exist."""


class EmbeddingMismatch(StoreError):
    """A namespace was built with another embedding model or dimension."""


class InvalidVector(StoreError):
    """A vector has the wrong shape, dtype or non-finite values."""


class InvalidArgument(StoreError):
    """A parameter value is outside what the store accepts."""


class ReadOnlyTransaction(StoreError):
    """A write was asked of a read-only transaction (`ExperienceStore.read`)."""


class InvalidFile(StoreError):
    """A file to import or replay is unreadable or does not match its format."""


def os_reason(exc: OSError) -> str:
    """What the operating system said went wrong, in lower case for the middle of a sentence."""
    return (exc.strerror or str(exc)).lower()


def one_line(text: str) -> str:
    """`text` with line breaks and other unprintable characters escaped (`\\n`), so it stays one line."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def first_problem(exc: ValidationError) -> str:
    """The first validation error as `field.path: message`, for one-line reports (a field path may
    be a key from the file, which can hold anything)."""
    error = exc.errors()[0]
    message = error["msg"].removeprefix("Value error, ")
    where = ".".join(str(part) for part in error["loc"])
    return one_line(f"{where}: {message}" if where else message)
