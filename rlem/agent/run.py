"""`rlem run`: epochs of training episodes (memory updated) and evaluation episodes (memory read only).

Memory modes: `rlem` learns; `static` shows fixed exemplars from a memory file and never writes;
`off` is the policy alone (the paper's two baselines).

With a `Server` (`rlem run --server URL`) the episodes run against `rlem serve`: its policy and
memory decide and learn, the schedule, files and metrics are the same.

Everything lands in the output folder: config.json, trajectories.jsonl (training episodes, the
replay format), eval_trajectories.jsonl, episodes.jsonl, metrics.jsonl and .csv, and
learning_curve.png. A training episode's last updates and a row of the run journal go into one
transaction, and its lines (with the memory's size after those updates) reach the files before
that commits; on restart, lines whose episode has no journal row are dropped and the episode runs
again, so files and memory agree.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from envs import Observation, TextEnv, make_env
from envs.checker import EnvContractError, check_start
from memory_store.files import write_atomically
from memory_store.store import succeeded
from rlem.agent.folder_lock import FolderLock
from rlem.agent.metrics import aggregate, episode_record, plot_learning_curve, write_metrics
from rlem.agent.sessions import Episode, EpisodeResult, RLEMAgent
from rlem.client import RemoteAgent, RemoteEpisode, Server
from rlem.config import RunConfig
from rlem.errors import RlemError
from rlem.learning.journal import committed
from rlem.learning.trajectory import append_episode, read_episodes


@dataclass(frozen=True)
class Job:
    """One episode to run: its key in the run's schedule, the environment seed, and whether it trains."""

    key: str
    seed: int
    training: bool


def schedule(config: RunConfig, epoch: int) -> tuple[list[Job], list[Job]]:
    """An epoch's training and evaluation jobs."""
    train = [Job(f"e{epoch}-train-{seed}", seed, True) for seed in config.train_tasks]
    test = [Job(f"e{epoch}-eval-{seed}", seed, False) for seed in config.test_tasks]
    return train, test


@dataclass
class Slot:
    """An environment and the episode running in it."""

    env: TextEnv
    episode: Episode | RemoteEpisode
    observation: Observation


def play(
    agent: RLEMAgent | RemoteAgent, jobs: Sequence[Job], envs: Sequence[TextEnv], advance: Callable[[], None]
) -> None:
    """Run all jobs as episodes of `agent`, len(envs) at a time in lockstep: one `act_many` per step;
    `advance` is called as each episode ends.

    An episode ends at the environment's own end or at the agent's step limit, whichever is first.
    """
    queue = list(jobs)

    def start(env: TextEnv) -> Slot | None:
        if not queue:
            return None
        job = queue.pop(0)
        observation = env.reset(seed=job.seed)
        episode = agent.begin(observation.task, training=job.training, key=job.key, seed=job.seed,
                              env=env.spec, deterministic=env.deterministic)  # fmt: skip
        return Slot(env, episode, observation)

    slots = [start(env) for env in envs]
    while any(slots):
        active = [slot for slot in slots if slot is not None]
        requests = [(s.episode, s.observation.text, s.observation.available_actions) for s in active]
        for slot, action in zip(active, agent.act_many(requests), strict=True):
            result = slot.env.step(action)
            slot.episode.reward(result.reward)
            slot.observation = result.observation
            if result.terminated or result.truncated or slot.episode.out_of_steps:
                final = result.observation
                slot.episode.end(
                    final.text, final.available_actions, success=bool(result.info.get("success"))
                )
                advance()
                slots[slots.index(slot)] = start(slot.env)
        # The transitions of the episodes that go on are fed at the next act_many: in one transaction.


class Run:
    """One run's output folder, environments, agent and bookkeeping."""

    def __init__(self, config: RunConfig, out: Path, *, server: Server | None = None):
        self.config, self.out, self.server = config, out, server
        self.lock = FolderLock(out)
        self.envs: list[TextEnv] = []
        self.agent: RLEMAgent | RemoteAgent | None = None
        self.epoch_number = 0
        try:
            self.envs = [make_env(config.env) for _ in range(config.num_envs)]
            self.check_environment()
            agent_config = config.agent(retrieval_text=self.envs[0].retrieval_text)
            self.agent = (
                RLEMAgent.open(agent_config, hooks=[self.write])
                if server is None
                else server.agent(agent_config, hooks=[self.write])
            )
            # Only a run that could start claims the folder: a bad --env or --db leaves none behind.
            self.run_id = self.claim_folder()
        except BaseException:
            for env in self.envs:
                env.close()
            if self.agent is not None:
                self.agent.close(save_index=False)
            self.lock.abandon()
            raise
        self.store = self.agent.store
        if self.agent.learning is not None:
            self.agent.learning.journal = self.run_id
        self.records = self.resume()

    def check_environment(self) -> None:
        """Reset the first environment once at the run's first seed and check what it gives, so that
        one breaking the contract at once is a one-line error before anything is written (a reset that
        raises is a bug of the environment and keeps its traceback)."""
        seeds = self.config.train_tasks or self.config.test_tasks or [self.config.seed]
        try:
            check_start(self.envs[0], seed=seeds[0])
        except EnvContractError as exc:
            raise RlemError(
                f"environment {self.config.env!r} breaks the TextEnv contract (envs/base.py): {exc}"
            ) from None

    def path(self, name: str) -> Path:
        """A file in the output folder (created empty if missing)."""
        path = self.out / name
        path.touch()
        return path

    def claim_folder(self) -> str:
        """Create the folder with config.json, or check an existing one holds this same run."""
        self.out.mkdir(parents=True, exist_ok=True)
        saved = self.out / "config.json"
        if saved.exists():
            previous = json.loads(saved.read_text())
            if RunConfig.model_validate(previous["config"]) != self.config:
                raise RlemError(
                    f"{self.out} holds a run with other settings: give another --out, or the same settings"
                )
            return previous["run_id"]
        run_id = uuid.uuid4().hex
        document = {"run_id": run_id, "config": self.config.model_dump(mode="json")}
        write_atomically(saved, (json.dumps(document, indent=1) + "\n").encode())
        return run_id

    def resume(self) -> list[dict]:
        """Keep the file lines of committed training episodes and finished evaluation ones, and go on
        counting updates after theirs; return the kept episode records."""
        episodes = [
            json.loads(line) for line in self.path("episodes.jsonl").read_text().splitlines() if line.strip()
        ]
        learning = self.agent.learning
        if learning is not None:
            done = learning.store.read(lambda tx: committed(tx, self.run_id))
            keep = {e["key"] for e in episodes if e["split"] == "eval" or e["key"] in done}
        else:
            keep = {e["key"] for e in episodes}
        kept = [e for e in episodes if e["key"] in keep]
        train_keys = {e["key"] for e in kept if e["split"] == "train"}
        trajectories = [t for t in read_episodes(self.path("trajectories.jsonl")) if t.run_key in train_keys]
        write_atomically(self.path("episodes.jsonl"), "".join(json.dumps(e) + "\n" for e in kept).encode())
        lines = "".join(t.model_dump_json(by_alias=True, exclude_none=True) + "\n" for t in trajectories)
        write_atomically(self.path("trajectories.jsonl"), lines.encode())
        if learning is not None:
            learning.resume(trajectories)
        return kept

    def write(self, finished: EpisodeResult, size: int | None) -> None:
        """An ended episode's lines; a training episode's reach disk before its last updates commit."""
        target = "trajectories.jsonl" if finished.training else "eval_trajectories.jsonl"
        append_episode(self.path(target), finished.log)
        record = episode_record(finished, self.epoch_number, size)
        with self.path("episodes.jsonl").open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        self.records.append(record)

    def epoch(self, epoch: int, advance: Callable[[], None]) -> list[dict]:
        """Run an epoch's unfinished training, then evaluation, episodes; return all metric rows."""
        done = {r["key"] for r in self.records}
        self.epoch_number = epoch
        for jobs in schedule(self.config, epoch):
            play(self.agent, [j for j in jobs if j.key not in done], self.envs, advance)
        rows = aggregate(self.records)
        write_metrics(self.out, rows)
        who = f"{self.config.policy}, memory {self.config.memory}" if self.server is None else self.server.url
        plot_learning_curve(self.out, rows, f"{self.config.env}: {who}")
        return rows

    def close(self, *, save_index: bool = True) -> None:
        """Release environments, the policy and the memory (saving its index if `save_index`)."""
        for env in self.envs:
            env.close()
        self.agent.close(save_index=save_index)
        self.lock.release()

    def __enter__(self) -> Run:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc) -> None:
        self.close(save_index=succeeded(kind))
