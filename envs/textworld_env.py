"""TextWorld games, generated locally per seed with TextWorld's own generators and cached.

Specs: `textworld:simple`, `textworld:coin_collector[:LEVEL]`, `textworld:treasure_hunter[:LEVEL]`.
The task is the game's objective, the actions its admissible commands; the banner and the status
line are stripped from observations; the reward is the score gained; success is winning.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from envs.base import Observation, StepResult, TextEnv, require_admissible

SETTINGS: dict[str, dict[str, Any]] = {
    "simple": {"rewards": "dense", "goal": "detailed", "test": False},
    "coin_collector": {"level": 1},
    "treasure_hunter": {"level": 1},
}
STATUS_LINE = re.compile(r"\n*>\s*(?:-=.*=-\s*\d+/\d+)?\s*$")


def cache_dir() -> Path:
    """Where generated games are kept: $RLEM_TEXTWORLD_CACHE, else ~/.cache/rlem/textworld."""
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rlem" / "textworld"
    return Path(os.environ.get("RLEM_TEXTWORLD_CACHE") or default)


@contextmanager
def quiet_jericho() -> Iterator[None]:
    """Silence jericho's warning that it cannot follow generated games' scores (TextWorld does)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is not fully supported.*")
        yield


def clean(text: str) -> str:
    """An observation without the trailing prompt and status line."""
    return STATUS_LINE.sub("", text).strip()


class TextWorld(TextEnv):
    """A TextWorld challenge; each seed is its own game."""

    deterministic = True

    def __init__(self, challenge: str, settings: dict[str, Any], max_steps: int = 100):
        self.challenge, self.settings, self.max_steps = challenge, settings, max_steps
        level = f":{settings['level']}" if "level" in settings else ""
        self.spec = f"textworld:{challenge}{level}"
        self.env: Any = None
        self.score = 0
        self.actions: tuple[str, ...] = ()
        self.task = ""
        self.done = True

    def game(self, seed: int) -> Path:
        """The compiled game for a seed, generated on first use."""
        import textworld
        from textworld.challenges import CHALLENGES

        key = hashlib.sha256(
            json.dumps([self.challenge, self.settings], sort_keys=True).encode()
        ).hexdigest()[:10]
        path = cache_dir() / f"{self.challenge}-{key}-{seed}.z8"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            options = textworld.GameOptions()
            options.seeds = seed
            options.path = str(path)
            options.file_ext = ".z8"
            with quiet_jericho():
                game = CHALLENGES[f"tw-{self.challenge}"][1](self.settings, options)
                textworld.generator.compile_game(game, options)
        return path

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Observation:
        """Load (generating if needed) the game of `seed` and start it."""
        import textworld
        import textworld.gym

        self.close()
        wanted = textworld.EnvInfos(admissible_commands=True, objective=True, won=True, lost=True, score=True)
        env_id = textworld.gym.register_game(
            str(self.game(seed or 0)), wanted, max_episode_steps=self.max_steps
        )
        with quiet_jericho():
            self.env = textworld.gym.make(env_id)
            text, info = self.env.reset()
        self.task = info["objective"].strip()
        # The first observation is the banner, the objective, then the room: keep the room.
        room = text.split(info["objective"].strip(), 1)[-1]
        self.score, self.done = 0, False
        return self.observe(room, info)

    def observe(self, text: str, info: dict[str, Any]) -> Observation:
        """The objective, the cleaned text, and the admissible commands."""
        self.actions = tuple(info["admissible_commands"])
        return Observation(self.task, clean(text), self.actions)

    def step(self, action: str) -> StepResult:
        """Run one admissible command; reward is the score it gained."""
        require_admissible(action, self.actions, self.done)
        text, score, done, info = self.env.step(action)
        reward, self.score = float(score - self.score), score
        terminated = bool(info["won"] or info["lost"])
        self.done = bool(done)
        observation = self.observe(text, info)
        if not observation.available_actions and not self.done:
            observation = Observation(self.task, observation.text, ("look",))
        return StepResult(
            observation, reward, terminated, self.done and not terminated, {"success": bool(info["won"])}
        )

    def close(self) -> None:
        """Close the running game, if any."""
        if self.env is not None:
            self.env.close()
            self.env = None


def from_spec(arguments: list[str]) -> TextWorld:
    """`simple`, or `coin_collector` / `treasure_hunter` with an optional level."""
    if not arguments or arguments[0] not in SETTINGS:
        raise ValueError(f"textworld takes one of {', '.join(SETTINGS)}, got {arguments}")
    name, rest = arguments[0], arguments[1:]
    settings = dict(SETTINGS[name])
    if rest:
        if "level" not in settings or len(rest) > 1 or not rest[0].isdigit():
            raise ValueError(f"textworld:{name} takes {'a level' if 'level' in settings else 'no arguments'}")
        settings["level"] = int(rest[0])
    return TextWorld(name, settings)
