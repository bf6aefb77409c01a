"""Running the service: the database checked and migrated, the first admin key, then uvicorn.

uvicorn handles SIGTERM and SIGINT gracefully: it stops accepting connections, lets requests in
flight finish, then the app's lifespan ends open episodes as truncated and closes the memory.
"""

from __future__ import annotations

import logging
import sys

import uvicorn

from memory_store.admin.keys import ALL, create_key, has_keys
from memory_store.db.database import parse_url
from memory_store.store import open_database
from rlem.config import ServeConfig
from rlem.service.app import create_app

# How long a stopping server lets requests in flight finish.
GRACEFUL_S = 30


def first_key(config: ServeConfig) -> str | None:
    """On a database with no key yet, an admin key for every namespace (its token, shown once)."""
    db = open_database(config.db)
    try:
        if not config.auth or has_keys(db):
            return None
        _, token = create_key(db, namespace=ALL, scope="admin", label="created by the first rlem serve")
        return token
    finally:
        db.close()


def serve(config: ServeConfig) -> None:
    """Serve until stopped (SIGTERM, SIGINT)."""
    token = first_key(config)
    say = sys.stderr.write
    if token is not None:
        say(
            "rlem serve: this database had no API key, so here is an admin key for every namespace; it is "
            "shown once, keep it (make others with `rlem keys create`):\n"
        )
        sys.stdout.write(f"{token}\n")
        sys.stdout.flush()
    if not config.auth:
        say("rlem serve: auth is off (--no-auth): anyone who can reach this port is an admin\n")
    logging.getLogger("rlem.service").setLevel(logging.INFO)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config),
            host=config.host,
            port=config.port,
            log_config=None,
            access_log=False,  # rlem.service.access logs requests, with ids and without tokens
            timeout_graceful_shutdown=GRACEFUL_S,
            lifespan="on",
        )
    )
    memory = parse_url(config.db).render_as_string(hide_password=True)
    say(f"rlem serve: policy {config.agent.policy}, memory {memory}, "
        f"listening on http://{config.host}:{config.port} (docs at /docs)\n")  # fmt: skip
    server.run()
    if server.started is False:
        raise SystemExit(1)
