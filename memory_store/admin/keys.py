"""API keys of `rlem serve`: made and revoked by `rlem keys`, checked on every request.

A token is `rlem_` and 43 random URL-safe characters, shown once when made; the database keeps its
SHA-256 only (a random token of that length needs no slow hash), and its first characters to tell
keys apart in listings. A key covers one namespace (and rlem's own namespaces beside it, such as
its second Q table) or every one (`*`), with a scope: `read` (inspect, search) < `act` (episodes,
which learn) < `admin` (edit, delete, prune, import, backups, keys); each includes those before.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, get_args

from sqlalchemy import select, update

from memory_store.db.database import Database
from memory_store.db.models import ApiKeyRow, utcnow
from memory_store.errors import InvalidArgument, NotFound
from memory_store.names import MARK, check_name

Scope = Literal["read", "act", "admin"]
SCOPES: tuple[str, ...] = get_args(Scope)
ALL = "*"
PREFIX = "rlem_"
# Characters of a token kept in the clear, to tell keys apart.
SHOWN = 12
# A key's last use is written at most this often: not a write per request.
USE_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class ApiKey:
    """A key as listings show it: never its token."""

    id: int
    prefix: str
    namespace: str
    scope: Scope
    label: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, row: ApiKeyRow) -> ApiKey:
        """Copy an ORM row (without its hash)."""
        return cls(row.id, row.prefix, row.namespace, row.scope, row.label,  # type: ignore[arg-type]
                   row.created_at, row.revoked_at, row.last_used_at)  # fmt: skip

    def allows(self, scope: Scope) -> bool:
        """Whether this key's scope includes `scope`."""
        return SCOPES.index(self.scope) >= SCOPES.index(scope)

    def covers(self, namespace: str) -> bool:
        """Whether this key reaches `namespace`: its own, rlem's namespaces beside it, or all."""
        return self.namespace in (ALL, namespace) or namespace.startswith(self.namespace + MARK)

    @property
    def actor(self) -> str:
        """How audit rows name changes made with this key."""
        return f"key {self.id} ({self.prefix})"


def token_hash(token: str) -> str:
    """The SHA-256 of a token, as stored."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def check_key(*, namespace: str, scope: str, label: str) -> None:
    """InvalidArgument unless a key with these fields can be made (checked before any database opens)."""
    if scope not in SCOPES:
        raise InvalidArgument(f"scope {scope!r}: choose one of {', '.join(SCOPES)}")
    if namespace != ALL:
        check_name(namespace)
    if len(label) > 200:
        raise InvalidArgument(f"a key's label is at most 200 characters, got {len(label)}")


def create_key(db: Database, *, namespace: str, scope: Scope, label: str = "") -> tuple[ApiKey, str]:
    """A new key and its token (the only time the token is seen)."""
    check_key(namespace=namespace, scope=scope, label=label)
    token = PREFIX + secrets.token_urlsafe(32)

    def work(session) -> ApiKey:
        row = ApiKeyRow(token_hash=token_hash(token), prefix=token[:SHOWN], namespace=namespace,
                        scope=scope, label=label)  # fmt: skip
        session.add(row)
        session.flush()
        return ApiKey.of(row)

    return db.write(work), token


def list_keys(db: Database, *, revoked: bool = False) -> list[ApiKey]:
    """Keys by id: the valid ones, and the revoked ones too if `revoked`."""
    query = select(ApiKeyRow).order_by(ApiKeyRow.id)
    if not revoked:
        query = query.where(ApiKeyRow.revoked_at.is_(None))
    return db.read_call(lambda session: [ApiKey.of(row) for row in session.scalars(query)])


def revoke_key(db: Database, key_id: int) -> ApiKey:
    """Revoke a key (at once, for every server on the database); revoking twice changes nothing."""

    def work(session) -> ApiKey:
        row = session.get(ApiKeyRow, key_id)
        if row is None:
            raise NotFound(f"no API key with id {key_id}: `rlem keys ls` lists them")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
        return ApiKey.of(row)

    return db.write(work)


def verify_token(db: Database, token: str) -> ApiKey | None:
    """The valid key of `token`, or None (unknown, malformed or revoked)."""
    if not token.startswith(PREFIX) or len(token) > 100:
        return None
    query = select(ApiKeyRow).where(ApiKeyRow.token_hash == token_hash(token), ApiKeyRow.revoked_at.is_(None))
    row = db.read_call(lambda session: session.scalars(query).one_or_none())
    key = ApiKey.of(row) if row is not None else None
    if key is not None:
        now = utcnow()
        if key.last_used_at is None or now - key.last_used_at > USE_RESOLUTION:
            db.write(
                lambda s: s.execute(update(ApiKeyRow).where(ApiKeyRow.id == key.id).values(last_used_at=now))
            )
    return key


def has_keys(db: Database) -> bool:
    """Whether the database holds any valid key."""
    query = select(ApiKeyRow.id).where(ApiKeyRow.revoked_at.is_(None)).limit(1)
    return db.read_call(lambda session: session.scalar(query)) is not None
