"""A server's life: idle episodes ended by the TTL, a graceful stop, a kill -9 and the restart after
it, the body limit, and the settings it refuses to start with."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from tests.cli import one_line_error, rlem
from tests.servers import ServerProcess

pytestmark = pytest.mark.slow

ACTIONS = ["left", "right"]


def play_steps(server: ServerProcess, ns: str, steps: int, *, end: bool) -> str:
    """Begin an episode and take `steps` rewarded steps; end it if `end`. Returns its id."""
    episode = server.post(f"/v1/namespaces/{ns}/episodes", {"task": "walk"}).json()["episode"]
    path = f"/v1/namespaces/{ns}/episodes/{episode}"
    for step in range(steps):
        assert server.post(
            path + "/act", {"step": step, "observation": f"at {step}", "actions": ACTIONS}
        ).is_success
        assert server.post(path + "/reward", {"step": step, "reward": 1.0}).is_success
    if end:
        assert server.post(path + "/end", {"step": steps, "observation": "home", "success": True}).is_success
    return episode


def log_lines(folder: Path) -> list[dict]:
    """Every trajectory line the server logged under `folder`."""
    return [
        json.loads(line)
        for path in sorted((folder / "served").glob("*.jsonl"))
        for line in path.read_text().splitlines()
        if line.strip()
    ]


def export(db: str, ns: str, out: Path) -> list[dict]:
    """The namespace's states as `rlem memory export` writes them, without ids and times."""
    result = rlem("memory", "export", "--db", db, "-n", ns, "-o", str(out))
    assert result.returncode == 0, result.stderr
    document = json.loads(out.read_text())
    states = document["experiences"]
    return sorted(
        ((s["task"], s["observation"], sorted((a["action"], a["q"], a["visits"]) for a in s["actions"]))
         for s in states),
    )  # fmt: skip


def test_an_idle_episode_is_ended_as_truncated_and_says_so(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'memory.db'}"
    with ServerProcess.start(db, tmp_path, "--episode-ttl", "1") as server:
        episode = play_steps(server, "ttl", 2, end=False)
        path = f"/v1/namespaces/ttl/episodes/{episode}"
        assert server.post(path + "/act", {"step": 2, "observation": "o", "actions": ACTIONS}).is_success
        time.sleep(2.5)
        late = server.post(path + "/reward", {"step": 2, "reward": 1.0})
        assert late.status_code == 410 and "truncated" in late.json()["error"]["message"]
        assert server.get(path).json()["phase"] == "expired"
    # Ended by the step-limit rule: the two rewarded steps, not the action that got no reward.
    (line,) = log_lines(tmp_path)
    assert [s["observation"] for s in line["steps"]] == ["at 0", "at 1"]


def test_sigterm_ends_open_episodes_and_exits_cleanly(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'memory.db'}"
    server = ServerProcess.start(db, tmp_path)
    try:
        play_steps(server, "calm", 3, end=False)
    except BaseException:
        server.kill()
        raise
    # uvicorn stops gracefully, then exits by the signal it got, as daemons conventionally do.
    assert server.stop() in (0, -signal.SIGTERM)
    assert "1 open episode(s) ended as truncated" in server.log()
    (line,) = log_lines(tmp_path)
    assert len(line["steps"]) == 3
    assert "Traceback" not in server.log()


def test_after_kill_9_committed_episodes_are_intact_and_interrupted_ones_are_gone(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'memory.db'}"
    server = ServerProcess.start(db, tmp_path)
    try:
        token = server.token
        for _ in range(3):
            play_steps(server, "crash", 4, end=True)
        before = export(db, "crash", tmp_path / "before.json")
        interrupted = play_steps(server, "crash", 1, end=False)
    finally:
        server.kill()
    restarted = ServerProcess.start(db, tmp_path, port=server.port)
    try:
        assert restarted.token is None  # the database has a key now: the restarted server prints none
        restarted.token = token
        late = restarted.post(
            f"/v1/namespaces/crash/episodes/{interrupted}/act",
            {"step": 1, "observation": "o", "actions": ACTIONS},
        )
        assert late.status_code == 410 and "restarted" in late.json()["error"]["message"]
        assert len(log_lines(tmp_path)) == 3
        # The namespace goes on learning where it stopped; its log replays to its memory.
        play_steps(restarted, "crash", 2, end=True)
    finally:
        restarted.stop()
    after = export(db, "crash", tmp_path / "after.json")
    assert {s[1] for s in before} <= {s[1] for s in after}
    replayed = f"sqlite:///{tmp_path / 'replayed.db'}"
    (log,) = (tmp_path / "served").glob("*.jsonl")
    result = rlem("memory", "replay", str(log), "--db", replayed, "-n", "crash")
    assert result.returncode == 0, result.stderr
    assert export(replayed, "crash", tmp_path / "replayed.json") == after


def test_a_body_over_the_limit_is_413(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'memory.db'}"
    with ServerProcess.start(db, tmp_path, "--max-body-bytes", "2048") as server:
        big = server.post("/v1/namespaces/big/episodes", {"task": "x" * 5000})
        assert big.status_code == 413 and big.json()["error"]["code"] == "too_large"
        assert server.post("/v1/namespaces/big/episodes", {"task": "small"}).status_code == 201


def test_no_auth_is_refused_beyond_loopback(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'memory.db'}"
    one_line_error(rlem("serve", "--db", db, "--no-auth", "--host", "0.0.0.0"), "loopback")
    one_line_error(rlem("serve", "--db", db, "--episode-ttl", "0"), "episode_ttl_s")
