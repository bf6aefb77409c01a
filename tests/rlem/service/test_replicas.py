"""Two `rlem serve` processes on one PostgreSQL database, with clients on both: no update is lost,
and each server retrieves the states the other has just written."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.cli import rlem
from tests.servers import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ACTIONS = ["north", "south", "east", "west"]
EPISODES, STEPS = 5, 4


def play(server: ServerProcess, ns: str, observations: list[str]) -> int:
    """Episodes of `STEPS` rewarded steps over `observations`; returns the steps taken."""
    taken = 0
    for _ in range(EPISODES):
        episode = server.post(f"/v1/namespaces/{ns}/episodes", {"task": "find the exit"}).json()["episode"]
        path = f"/v1/namespaces/{ns}/episodes/{episode}"
        for step in range(STEPS):
            ask = {"step": step, "observation": observations[step % len(observations)], "actions": ACTIONS}
            assert server.post(path + "/act", ask).status_code == 200
            assert server.post(path + "/reward", {"step": step, "reward": 0.5}).status_code == 200
            taken += 1
        assert server.post(path + "/end", {"step": STEPS, "observation": "outside"}).status_code == 200
    return taken


def test_two_servers_share_one_memory(pg_url: str, tmp_path: Path) -> None:
    first = ServerProcess.start(pg_url, tmp_path / "a")
    try:
        second = ServerProcess.start(pg_url, tmp_path / "b")
    except BaseException:
        first.stop()
        raise
    second.token = second.token or first.token  # the second start finds the first's key
    try:
        rooms = [f"room {i}" for i in range(3)]  # shared states: both servers update the same rows
        with ThreadPoolExecutor(4) as pool:
            runs = [pool.submit(play, server, "shared", rooms) for server in (first, second, first, second)]
            steps = sum(run.result() for run in runs)
        stats = rlem("memory", "stats", "--db", pg_url, "-n", "shared", "--json")
        assert stats.returncode == 0, stats.stderr
        assert json.loads(stats.stdout)["visits"] == steps == 4 * EPISODES * STEPS

        # A state the first server has just written is retrieved by the second at once.
        play(first, "shared", ["a cellar only the first server has seen"])
        episode = second.post("/v1/namespaces/shared/episodes", {"task": "find the exit"}).json()["episode"]
        ask = {
            "step": 0,
            "observation": "a cellar only the first server has seen",
            "actions": ACTIONS,
            "explain": True,
        }
        shown = second.post(f"/v1/namespaces/shared/episodes/{episode}/act", ask).json()
        assert shown["retrieved"][0]["experience"]["observation"] == "a cellar only the first server has seen"
        assert shown["retrieved"][0]["similarity"] > 0.99
    finally:
        first.stop()
        second.stop()
