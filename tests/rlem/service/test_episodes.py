"""Episodes over HTTP against a real `rlem serve`: the step protocol, retries applied once, batching
across clients, settings held per namespace, auth and errors."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.servers import ServerProcess

pytestmark = pytest.mark.slow

ACTIONS = ["left", "right", "up"]


def namespace() -> str:
    """A namespace of its own for one test (the module shares one server and database)."""
    return "ns-" + uuid.uuid4().hex[:8]


def begin(server: ServerProcess, ns: str, **body) -> str:
    """Begin an episode and return its id."""
    answer = server.post(f"/v1/namespaces/{ns}/episodes", {"task": "reach the goal"} | body)
    assert answer.status_code == 201, answer.text
    return answer.json()["episode"]


def logged(server: ServerProcess, ns: str) -> list[dict]:
    """The namespace's trajectory log on the server."""
    paths = [
        p
        for p in (Path(server.args[server.args.index("--log-dir") + 1])).glob("*.jsonl")
        if p.name.startswith(ns)
    ]
    return [json.loads(line) for p in paths for line in p.read_text().splitlines() if line.strip()]


def visits(server: ServerProcess, ns: str) -> int:
    """The visits summed over the namespace's stored actions, read from the database by the CLI."""
    from tests.cli import rlem

    db = server.args[server.args.index("--db") + 1]
    shown = rlem("memory", "stats", "--db", db, "-n", ns, "--json")
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)["visits"]


def test_an_episode_step_by_step_with_every_request_retried(server: ServerProcess) -> None:
    ns = namespace()
    episode = begin(server, ns)
    path = f"/v1/namespaces/{ns}/episodes/{episode}"
    for step in range(3):
        ask = {"step": step, "observation": f"cell {step}", "actions": ACTIONS}
        first = server.post(path + "/act", ask)
        assert first.status_code == 200, first.text
        assert first.json()["action"] in ACTIONS and first.json()["kind"] in ("model", "explored")
        # The same request again, even with another observation: the first answer, nothing applied.
        again = server.post(path + "/act", ask | {"observation": "elsewhere"})
        assert again.json() == first.json()
        assert server.post(path + "/reward", {"step": step, "reward": 1.0}).status_code == 200
        assert server.post(path + "/reward", {"step": step, "reward": 5.0}).json()["reward"] == 1.0
    ended = server.post(path + "/end", {"step": 3, "observation": "goal", "success": True})
    assert ended.status_code == 200, ended.text
    assert ended.json()["steps"] == 3 and ended.json()["episode_return"] == 3.0
    assert (
        server.post(path + "/end", {"step": 3, "observation": "goal", "success": True}).json() == ended.json()
    )
    lines = logged(server, ns)
    assert len(lines) == 1 and [s["reward"] for s in lines[0]["steps"]] == [1.0, 1.0, 1.0]
    assert visits(server, ns) == 3


def test_requests_out_of_order_are_409_and_change_nothing(server: ServerProcess) -> None:
    ns = namespace()
    episode = begin(server, ns)
    path = f"/v1/namespaces/{ns}/episodes/{episode}"
    assert server.post(path + "/reward", {"step": 0, "reward": 1.0}).status_code == 409
    gap = server.post(path + "/act", {"step": 2, "observation": "o", "actions": ACTIONS})
    assert gap.status_code == 409 and "step 0" in gap.json()["error"]["message"]
    assert server.post(path + "/act", {"step": 0, "observation": "o", "actions": ACTIONS}).status_code == 200
    assert server.post(path + "/act", {"step": 1, "observation": "o", "actions": ACTIONS}).status_code == 409
    assert server.post(path + "/end", {"step": 0}).status_code == 409
    not_offered = server.post(path + "/reward", {"step": 0, "reward": 1.0, "action": "jump"})
    assert not_offered.status_code == 422 and "jump" in not_offered.json()["error"]["message"]
    # A failed request does not use up its step: the right one goes through.
    assert server.post(path + "/reward", {"step": 0, "reward": 1.0, "action": "up"}).json()["action"] == "up"
    assert server.post(path + "/end", {"step": 1, "observation": "o2"}).status_code == 200
    assert server.post(path + "/act", {"step": 1, "observation": "o", "actions": ACTIONS}).status_code == 409
    assert [s["action"] for s in logged(server, ns)[0]["steps"]] == ["up"]


def test_rewards_carried_by_the_next_act_or_the_end_are_applied_once(server: ServerProcess) -> None:
    ns = namespace()
    episode = begin(server, ns)
    path = f"/v1/namespaces/{ns}/episodes/{episode}"
    assert (
        server.post(path + "/act", {"step": 0, "observation": "cell 0", "actions": ACTIONS}).status_code
        == 200
    )
    early = server.post(path + "/act", {"step": 0, "observation": "o", "actions": ACTIONS, "reward": 1.0})
    assert early.status_code == 422 and "step 0 has no earlier action" in early.json()["error"]["message"]
    alone = server.post(path + "/act", {"step": 1, "observation": "o", "actions": ACTIONS, "taken": "up"})
    assert alone.status_code == 422 and "give reward too" in alone.json()["error"]["message"]
    wrong = {"step": 1, "observation": "cell 1", "actions": ACTIONS, "reward": 0.5, "taken": "jump"}
    refused = server.post(path + "/act", wrong)
    assert refused.status_code == 422 and "jump" in refused.json()["error"]["message"]
    # Nothing was applied: the step still awaits its reward, and the right request goes through.
    ask = wrong | {"taken": "up"}
    with ThreadPoolExecutor(4) as pool:
        acts = list(pool.map(lambda _: server.post(path + "/act", ask), range(4)))
    assert {a.status_code for a in acts} == {200} and len({a.text for a in acts}) == 1
    assert server.post(path + "/act", ask | {"reward": 9.0}).json() == acts[0].json()  # a retry: first answer
    # A reward request for a step an act has rewarded: its first answer; another value carried: 409.
    assert server.post(path + "/reward", {"step": 0, "reward": 3.0}).json() == {
        "step": 0, "action": "up", "reward": 0.5}  # fmt: skip
    assert server.post(path + "/reward", {"step": 1, "reward": 2.0}).status_code == 200
    other = server.post(path + "/end", {"step": 2, "observation": "goal", "reward": 7.0})
    assert other.status_code == 409 and "rewarded 2" in other.json()["error"]["message"]
    assert server.post(path + "/act", {"step": 2, "observation": "cell 2", "actions": ACTIONS,
                                       "reward": 2.0}).status_code == 200  # fmt: skip
    end = {"step": 3, "observation": "goal", "success": True, "reward": 1.0}
    ended = server.post(path + "/end", end)
    assert ended.status_code == 200, ended.text
    assert ended.json()["steps"] == 3 and ended.json()["episode_return"] == 3.5
    assert server.post(path + "/end", end).json() == ended.json()
    (line,) = logged(server, ns)
    assert [(s["action"], s["reward"]) for s in line["steps"]][:1] == [("up", 0.5)]
    assert [s["reward"] for s in line["steps"]] == [0.5, 2.0, 1.0]
    assert visits(server, ns) == 3


def test_the_same_step_sent_concurrently_is_applied_once(server: ServerProcess) -> None:
    ns = namespace()
    episode = begin(server, ns)
    path = f"/v1/namespaces/{ns}/episodes/{episode}"
    ask = {"step": 0, "observation": "start", "actions": ACTIONS}
    with ThreadPoolExecutor(8) as pool:
        acts = list(pool.map(lambda _: server.post(path + "/act", ask), range(8)))
        assert {a.status_code for a in acts} == {200} and len({a.text for a in acts}) == 1
        rewards = list(
            pool.map(lambda _: server.post(path + "/reward", {"step": 0, "reward": 2.0}), range(8))
        )
        assert {r.status_code for r in rewards} == {200}
        ends = list(pool.map(lambda _: server.post(path + "/end", {"step": 1, "observation": "x"}), range(8)))
        assert {e.status_code for e in ends} == {200}
    lines = logged(server, ns)
    assert len(lines) == 1 and len(lines[0]["steps"]) == 1
    assert visits(server, ns) == 1


def test_concurrent_episodes_are_decided_in_shared_batches(server: ServerProcess) -> None:
    ns = namespace()
    episodes = [begin(server, ns) for _ in range(8)]

    def play(episode: str) -> list[int]:
        path, sizes = f"/v1/namespaces/{ns}/episodes/{episode}", []
        for step in range(6):
            answer = server.post(
                path + "/act", {"step": step, "observation": f"cell {step}", "actions": ACTIONS}
            )
            sizes.append(answer.json()["batch_size"])
            server.post(path + "/reward", {"step": step, "reward": 0.0})
        assert server.post(path + "/end", {"step": 6, "observation": "end"}).status_code == 200
        return sizes

    with ThreadPoolExecutor(8) as pool:
        sizes = [size for run in pool.map(play, episodes) for size in run]
    assert max(sizes) > 1, sizes
    assert len(logged(server, ns)) == 8 and visits(server, ns) == 48


def test_a_namespace_keeps_its_learning_settings_while_episodes_are_open(server: ServerProcess) -> None:
    ns = namespace()
    first = begin(server, ns, learning={"n_step": 2})
    clash = server.post(f"/v1/namespaces/{ns}/episodes", {"task": "t", "learning": {"n_step": 3}})
    assert clash.status_code == 409 and "n_step" in clash.json()["error"]["message"]
    assert server.post(f"/v1/namespaces/{ns}/episodes/{first}/end", {"step": 0}).status_code == 200
    begin(server, ns, learning={"n_step": 3})


def test_bad_requests_get_one_clear_error_each(server: ServerProcess) -> None:
    ns = namespace()
    assert server.post(f"/v1/namespaces/{ns}/episodes", {"task": "t"}, token="").status_code == 401
    wrong = server.post(f"/v1/namespaces/{ns}/episodes", {"task": "t"}, token="not-a-key")
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    for body, field in [({"task": ""}, "task"), ({"task": "t", "learning": {"gamma": 2}}, "gamma"),
                        ({"task": "t", "surprise": 1}, "surprise")]:  # fmt: skip
        answer = server.post(f"/v1/namespaces/{ns}/episodes", body)
        assert answer.status_code == 422 and field in answer.json()["error"]["message"], answer.text
    assert server.post("/v1/namespaces/a~q2/episodes", {"task": "t"}).status_code == 422
    unknown = server.post(
        f"/v1/namespaces/{ns}/episodes/nope-1/act", {"step": 0, "observation": "", "actions": ["a"]}
    )
    assert unknown.status_code == 404
    assert server.get("/v1/nothing-here").json()["error"]["code"] == "not_found"
    raw = server.request("POST", f"/v1/namespaces/{ns}/episodes", content=b"{not json",
                         headers={"Content-Type": "application/json"})  # fmt: skip
    assert raw.status_code == 422
    assert "Traceback" not in server.log()


def test_health_readiness_and_metrics(server: ServerProcess) -> None:
    assert server.get("/healthz", token="").json() == {"status": "ok"}
    assert server.get("/readyz", token="").json()["status"] == "ready"
    assert server.get("/metrics", token="").status_code == 401
    text = server.get("/metrics").text
    assert "rlem_decision_batch_size_bucket" in text and "rlem_requests_total" in text
    assert server.get("/openapi.json", token="").json()["info"]["title"] == "rlem serve"
