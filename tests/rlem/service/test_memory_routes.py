"""The memory, backups and keys over HTTP against a real server on a memory filled by a real run:
each route does what its `rlem memory`/`rlem backup`/`rlem keys` command does, audited with the
key; a key of another namespace gets 404 everywhere and changes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli import rlem
from tests.servers import ServerProcess

pytestmark = pytest.mark.slow

NS = "lake"


@pytest.fixture(scope="module")
def server(served_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server on a memory that a short memory-greedy run filled, with pages of at most 3 states."""
    out = tmp_path_factory.mktemp("run")
    filled = rlem("run", "--env", "frozenlake:4x4", "--policy", "memory-greedy", "--epochs", "1",
                  "--train-tasks", "0-4", "--test-tasks", "100", "--db", served_db, "-n", NS,
                  "--out", str(out))  # fmt: skip
    assert filled.returncode == 0, filled.stderr
    with ServerProcess.start(served_db, tmp_path_factory.mktemp("server"), "--max-page", "3") as running:
        yield running


def db_of(server: ServerProcess) -> str:
    return server.args[server.args.index("--db") + 1]


def key(server: ServerProcess, namespace: str, scope: str) -> str:
    made = rlem("keys", "create", "--db", db_of(server), "-n", namespace, "--scope", scope)
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


def first_state(server: ServerProcess) -> dict:
    return server.get(f"/v1/namespaces/{NS}/states?limit=1").json()["page"]["states"][0]


def test_reading_the_memory(server: ServerProcess) -> None:
    names = [n["name"] for n in server.get("/v1/namespaces").json()]
    assert NS in names
    stats = server.get(f"/v1/namespaces/{NS}").json()
    assert stats["states"] > 3 and stats["visits"] > 0
    page = server.get(f"/v1/namespaces/{NS}/states?limit=50").json()
    assert page["limit_applied"] == 3 and len(page["page"]["states"]) == 3
    assert page["page"]["total"] == stats["states"]
    listed = server.get(f"/v1/namespaces/{NS}/states?min_visits=1000000").json()
    assert listed["page"]["total"] == 0
    assert server.get(f"/v1/namespaces/{NS}/states?since=yesterday").status_code == 422
    one = first_state(server)
    detail = server.get(f"/v1/namespaces/{NS}/states/{one['id']}").json()
    assert detail["experience"]["observation"] == one["observation"]
    assert server.get(f"/v1/namespaces/{NS}/states/99999999").status_code == 404
    found = server.post(f"/v1/namespaces/{NS}/search", {"observation": one["observation"], "k": 2}).json()
    cli = rlem("memory", "search", one["observation"], "--db", db_of(server), "-n", NS, "-k", "2", "--json")
    assert found == json.loads(cli.stdout) | {"hits": found["hits"]}
    assert [h["experience"]["id"] for h in found["hits"]] == [
        h["experience"]["id"] for h in json.loads(cli.stdout)["hits"]
    ]
    exported = server.get(f"/v1/namespaces/{NS}/export")
    assert exported.status_code == 200 and len(exported.json()["experiences"]) == stats["states"]


def test_changes_are_audited_with_the_key(server: ServerProcess) -> None:
    one = first_state(server)
    action = server.get(f"/v1/namespaces/{NS}/states/{one['id']}").json()["experience"]["actions"][0][
        "action"
    ]
    edited = server.request("PATCH", f"/v1/namespaces/{NS}/states/{one['id']}/actions/{action}", {"q": 7.5})
    assert edited.status_code == 200 and edited.json()["q"] == 7.5
    shown = json.loads(rlem("memory", "show", str(one["id"]), "--db", db_of(server), "--json").stdout)
    assert {a["action"]: a["q"] for a in shown["experience"]["actions"]}[action] == 7.5
    rows = server.get(f"/v1/namespaces/{NS}/audit").json()
    assert rows[0]["command"] == "edit" and rows[0]["actor"].startswith("key ")
    not_a_number = server.request(
        "PATCH", f"/v1/namespaces/{NS}/states/{one['id']}/actions/{action}", {"q": "x"}
    )
    assert not_a_number.status_code == 422
    before = server.get(f"/v1/namespaces/{NS}").json()["states"]
    gone = server.request("DELETE", f"/v1/namespaces/{NS}/states/{one['id']}")
    assert gone.json() == {"deleted": 1, "left": before - 1}
    assert server.get(f"/v1/namespaces/{NS}/states/{one['id']}").status_code == 404
    pruned = server.post(f"/v1/namespaces/{NS}/prune", {"min_visits": 1})
    assert pruned.status_code == 200 and pruned.json()["deleted"] == 0


def test_import_checks_the_whole_file_first(server: ServerProcess) -> None:
    exported = server.get(f"/v1/namespaces/{NS}/export").content
    bad = server.request("POST", "/v1/namespaces/copy/import", content=exported[: len(exported) // 2])
    assert bad.status_code == 422
    assert "copy" not in [n["name"] for n in server.get("/v1/namespaces").json()]
    good = server.request("POST", "/v1/namespaces/copy/import", content=exported)
    assert good.status_code == 200 and good.json()["states"] == len(json.loads(exported)["experiences"])
    (row,) = server.get("/v1/namespaces/copy/audit").json()
    assert (
        row["command"] == "import"
        and row["actor"].startswith("key ")
        and row["new_value"]["replace"] is False
    )
    assert server.request("DELETE", "/v1/namespaces/copy").json() == ["copy"]


def test_backups_and_keys(server: ServerProcess) -> None:
    made = server.post("/v1/backups")
    assert made.status_code == 201, made.text
    name = made.json()["name"]
    assert name in [b["name"] for b in server.get("/v1/backups").json()]
    assert server.post(f"/v1/backups/{name}/verify").status_code == 200
    assert server.post("/v1/backups/..%2F..%2Fetc/verify").status_code == 404
    assert server.post("/v1/backups/nothing/verify").status_code == 404
    new = server.post("/v1/keys", {"namespace": "dana", "scope": "admin"}).json()
    dana = new["token"]
    assert server.post("/v1/keys", {"namespace": "*", "scope": "read"}, token=dana).status_code == 404
    own = server.post("/v1/keys", {"namespace": "dana", "scope": "read"}, token=dana)
    assert own.status_code == 201
    assert {k["namespace"] for k in server.get("/v1/keys", token=dana).json()} == {"dana"}
    assert server.post("/v1/backups", token=dana).status_code == 403
    assert server.request("DELETE", f"/v1/keys/{new['key']['id']}").status_code == 200
    assert server.get("/v1/keys", token=dana).status_code == 401


def test_a_key_of_another_namespace_gets_404_everywhere_and_changes_nothing(
    server: ServerProcess, tmp_path: Path
) -> None:
    other = key(server, "elsewhere", "admin")
    before = server.get(f"/v1/namespaces/{NS}/export").content
    one = first_state(server)
    state = f"/v1/namespaces/{NS}/states/{one['id']}"
    tries = [
        server.get(f"/v1/namespaces/{NS}", token=other),
        server.get(f"/v1/namespaces/{NS}/states", token=other),
        server.get(state, token=other),
        server.post(f"/v1/namespaces/{NS}/search", {"observation": "x"}, token=other),
        server.get(f"/v1/namespaces/{NS}/audit", token=other),
        server.get(f"/v1/namespaces/{NS}/export", token=other),
        server.request("PATCH", state + "/actions/left", {"q": 1.0}, token=other),
        server.request("DELETE", state, token=other),
        server.post(f"/v1/namespaces/{NS}/prune", {"min_visits": 100}, token=other),
        server.request("POST", f"/v1/namespaces/{NS}/import", content=before, token=other),
        server.request("DELETE", f"/v1/namespaces/{NS}", token=other),
        server.post(f"/v1/namespaces/{NS}/episodes", {"task": "t"}, token=other),
        # Its own namespace's path, with a state of this one: not its state.
        server.get(f"/v1/namespaces/elsewhere/states/{one['id']}", token=other),
    ]
    assert [t.status_code for t in tries] == [404] * len(tries), [t.text for t in tries]
    assert NS not in [n["name"] for n in server.get("/v1/namespaces", token=other).json()]
    assert server.get(f"/v1/namespaces/{NS}/export").content == before
    reader = key(server, NS, "read")
    assert server.request("DELETE", state, token=reader).status_code == 403
    assert server.get(state, token=reader).status_code == 200
