"""Keys and tenants on the episode routes: a key reaches its namespace only (404 beyond, as for a
namespace that does not exist), its scope decides what it may do, a revoked key is refused."""

from __future__ import annotations

import json
import time

import pytest

from tests.cli import rlem
from tests.servers import ServerProcess

pytestmark = pytest.mark.slow


def new_key(server: ServerProcess, namespace: str, scope: str) -> str:
    """A token made with `rlem keys create` on the server's database."""
    db = server.args[server.args.index("--db") + 1]
    made = rlem("keys", "create", "--db", db, "-n", namespace, "--scope", scope)
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


def test_a_key_reaches_its_own_namespace_only(server: ServerProcess) -> None:
    alice, bob = new_key(server, "alice", "act"), new_key(server, "bob", "act")
    begun = server.post("/v1/namespaces/alice/episodes", {"task": "t"}, token=alice)
    assert begun.status_code == 201
    episode = begun.json()["episode"]
    ask = {"step": 0, "observation": "o", "actions": ["a", "b"]}
    across = [
        server.post("/v1/namespaces/alice/episodes", {"task": "t"}, token=bob),
        server.post(f"/v1/namespaces/alice/episodes/{episode}/act", ask, token=bob),
        server.get(f"/v1/namespaces/alice/episodes/{episode}", token=bob),
        # Alice's episode through Bob's namespace: the episode is not Bob's.
        server.post(f"/v1/namespaces/bob/episodes/{episode}/act", ask, token=bob),
    ]
    assert [a.status_code for a in across] == [404] * 4
    # The same answer as for a namespace that holds nothing: whether Alice's exists does not leak.
    assert across[0].json()["error"]["message"] == "no namespace 'alice'"
    assert server.get("/v1/namespaces/nobody/episodes/x-1", token=bob).json()["error"]["message"] == (
        "no namespace 'nobody'"
    )
    # Nothing was done to Alice's episode: its first act is still to come.
    assert server.post(f"/v1/namespaces/alice/episodes/{episode}/act", ask, token=alice).status_code == 200
    mine = server.get("/v1/episodes", token=bob).json()
    assert all(e["namespace"] == "bob" for e in mine)
    assert episode in {e["episode"] for e in server.get("/v1/episodes", token=alice).json()}


def test_scopes_and_revocation(server: ServerProcess) -> None:
    reader = new_key(server, "carol", "read")
    refused = server.post("/v1/namespaces/carol/episodes", {"task": "t"}, token=reader)
    assert refused.status_code == 403 and "needs a key with scope act" in refused.json()["error"]["message"]
    assert server.get("/metrics", token=reader).status_code == 403  # one namespace's key
    actor = new_key(server, "carol", "act")
    assert server.post("/v1/namespaces/carol/episodes", {"task": "t"}, token=actor).status_code == 201
    db = server.args[server.args.index("--db") + 1]
    listed = rlem("keys", "ls", "--db", db, "--json")
    key_id = next(k["id"] for k in json.loads(listed.stdout) if actor.startswith(k["prefix"]))
    assert rlem("keys", "revoke", str(key_id), "--db", db).returncode == 0
    # Revoked by another process: the server trusts the key it verified for --key-cache-s (1 s) at most.
    revoked, task = time.monotonic(), {"task": "t"}
    while (gone := server.post("/v1/namespaces/carol/episodes", task, token=actor)).status_code != 401:
        assert time.monotonic() - revoked < 1.5, "a key revoked elsewhere still works after --key-cache-s"
        time.sleep(0.05)
    assert "revoked" in gone.json()["error"]["message"]
    assert actor not in server.log()  # tokens are never logged
