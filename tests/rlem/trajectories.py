"""Trajectory log lines: one episode as the log holds it, and a file of lines."""

from __future__ import annotations

from pathlib import Path


def episode(task: str = "Reach the goal.", rewards=(0.0, 1.0)) -> dict:
    return {
        "task": task,
        "steps": [
            {"observation": f"at {i}", "available_actions": ["left", "right"], "action": "right", "reward": r}
            for i, r in enumerate(rewards)
        ],
        "final_observation": "at the goal",
        "final_available_actions": [],
        "env": "corridor",
        "seed": 3,
        "success": True,
        "return": sum(rewards),
    }


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path
