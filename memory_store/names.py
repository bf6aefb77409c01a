"""Namespace names: what a user may call a namespace, the mark reserved for rlem's own, and the
names of rlem's own (the only module that spells them).

rlem keeps some namespaces beside a user's: `NAME~q2` (double Q-learning's second table),
`NAME~static-...` (a memory file read by `rlem run --memory static`) and `NAME~reembed-...` (staging
of a re-embedding). `~` marks them, so no name a user creates may hold it: cleaning up after rlem
then never touches a user's namespace.
"""

from __future__ import annotations

import unicodedata
import uuid

from memory_store.errors import InvalidArgument

MARK = "~"
MAX_NAME = 200


def check_name(name: str) -> str:
    """A namespace name as stored: 1 to 200 printable characters, no surrounding spaces."""
    if not isinstance(name, str) or not name:
        raise InvalidArgument("a namespace name cannot be empty: give one with --namespace/-n")
    if len(name) > MAX_NAME:
        raise InvalidArgument(
            f"namespace name of {len(name)} characters {name[:20]!r}...: at most {MAX_NAME} are allowed"
        )
    if name != name.strip() or any(unicodedata.category(c).startswith("C") for c in name):
        raise InvalidArgument(
            f"namespace name {name[:60]!r} has control characters or surrounding spaces: remove them"
        )
    return name


def check_new_name(name: str) -> str:
    """A name a user may create: a valid name without rlem's mark."""
    check_name(name)
    if MARK in name:
        raise InvalidArgument(
            f"namespace name {name[:60]!r} holds {MARK!r}, which marks rlem's own namespaces "
            f"(NAME{MARK}q2, NAME{MARK}reembed-...): choose a name without it"
        )
    return name


def internal_name(owner: str, suffix: str) -> str:
    """The name of one of rlem's own namespaces kept beside `owner`."""
    return check_name(f"{owner}{MARK}{suffix}")


def second_table(namespace: str) -> str:
    """The namespace of `namespace`'s second Q table (double Q-learning)."""
    return internal_name(namespace, "q2")


def static_name(namespace: str, digest: str, retrieval_text: str) -> str:
    """The namespace holding a memory file's fixed exemplars (`rlem run --memory static`), one per
    file content and way of matching."""
    return internal_name(namespace, f"static-{digest}-{retrieval_text}")


# The staging namespaces of a re-embedding: NAME~reembed-ID-OWNER.
STAGING = "reembed-"


def staging_name(live: str, owner: str) -> str:
    """A new staging namespace of `live` for a re-embedding by `owner` (`NAME~reembed-ID-OWNER`)."""
    return internal_name(live, f"{STAGING}{uuid.uuid4().hex[:8]}-{owner}")


def staging_prefix(live: str) -> str:
    """What every staging namespace of `live` begins with."""
    return live + MARK + STAGING


def is_staging(name: str) -> bool:
    """Whether `name` is the staging namespace of a re-embedding."""
    return MARK + STAGING in name


def staging_owner(name: str) -> str:
    """The owner named in a staging namespace's name."""
    return name.rpartition(MARK + STAGING)[2].partition("-")[2]
