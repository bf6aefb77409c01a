"""The trajectory log: strict validation with the line and field named, and appends of whole lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memory_store.errors import InvalidFile
from rlem.learning.trajectory import EpisodeLog, StepLog, append_episode, read_episodes
from tests.rlem.trajectories import episode, write_lines


def test_episodes_and_metadata_are_read_back(tmp_path: Path):
    path = write_lines(tmp_path / "log.jsonl", [json.dumps(episode()), "", json.dumps(episode("Other."))])
    first, second = read_episodes(path)
    assert (first.task, second.task) == ("Reach the goal.", "Other.")
    assert [s.reward for s in first.steps] == [0.0, 1.0]
    assert (first.env, first.seed, first.success, first.episode_return) == ("corridor", 3, True, 1.0)


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ('{"task": "t"', r"line 2: Invalid JSON"),
        (
            json.dumps(
                {**episode(), "steps": [{"observation": "o", "available_actions": [], "action": "a"}]}
            ),
            r"line 2: steps\.0\.reward: Field required",
        ),
        (
            json.dumps({**episode(), "steps": [{**episode()["steps"][0], "reward": "lots"}]}),
            r"line 2: steps\.0\.reward: Input should be a valid number",
        ),
        (
            json.dumps({**episode(), "steps": [{**episode()["steps"][0], "rewrad": 1.0}]}),
            r"line 2: steps\.0\.(reward: Field required|rewrad: Extra inputs)",
        ),
        (
            json.dumps({k: v for k, v in episode().items() if k != "final_observation"}),
            r"line 2: final_observation: Field required",
        ),
    ],
)
def test_a_bad_line_is_named_by_number_and_field(tmp_path: Path, broken: str, message: str):
    path = write_lines(tmp_path / "log.jsonl", [json.dumps(episode()), broken, json.dumps(episode())])
    with pytest.raises(InvalidFile, match=message):
        read_episodes(path)


def test_an_unreadable_file_is_named(tmp_path: Path):
    with pytest.raises(InvalidFile, match="cannot read .*missing.jsonl"):
        read_episodes(tmp_path / "missing.jsonl")


def test_appended_episodes_are_whole_lines_that_read_back(tmp_path: Path):
    path = tmp_path / "log.jsonl"
    log = EpisodeLog(
        task="t",
        steps=[StepLog(observation="o", available_actions=["a"], action="a", reward=0.5)],
        final_observation="end",
        final_available_actions=[],
        episode_return=0.5,
    )
    append_episode(path, log)
    append_episode(path, log)
    lines = path.read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["return"] == 0.5
    assert read_episodes(path) == [log, log]
