"""`rlem run`: epochs of training episodes (memory updated) and evaluation episodes (memory read only).

Memory modes: `rlem` learns; `static` shows fixed exemplars from a memory file and never writes;
`off` is the policy alone (the paper's two baselines).

Everything lands in the output folder: config.json, trajectories.jsonl (training episodes, the
replay format), eval_trajectories.jsonl, episodes.jsonl, metrics.jsonl and .csv, and
learning_curve.png. A training episode's last updates and a row of the run journal go into one
transaction, and its lines (with the memory's size after those updates) reach the files before
that commits; on restart, lines whose episode has no journal row are dropped and the episode runs
again, so files and memory agree.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from envs import TextEnv, make_env
from envs.checker import EnvContractError, check_start
from memory_store import Averaging, ExperienceStore, StoreConfig
from memory_store.config import DEFAULT_URL
from memory_store.files import write_atomically
from memory_store.formats.transfer import read_memory_file
from memory_store.names import internal_name
from memory_store.store import succeeded
from memory_store.vectors.embedder import RetrievalText
from rlem.agent import Agent, Finished, Job, MemoryMode
from rlem.double_q import second_table
from rlem.errors import RlemError
from rlem.exemplars import ExemplarConfig, HFTokenizer, load_templates
from rlem.folder_lock import FolderLock
from rlem.metrics import aggregate, episode_record, plot_learning_curve, write_metrics
from rlem.policies.factory import PolicySpec, make_policy
from rlem.policies.values import DEFAULT_POOL_MARGIN
from rlem.qlearning import Rule, Tables
from rlem.replay import transaction_tables
from rlem.trajectory import append_episode, read_episodes


class RunConfig(BaseModel):
    """Everything that defines a run; saved as config.json and checked on resume."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    env: str = "frozenlake:4x4:random"
    policy: PolicySpec = PolicySpec(backend="hf")
    memory: MemoryMode = "rlem"
    epochs: int = Field(default=3, ge=1)
    # A few hundred training episodes over the default 3 epochs: enough for the memory to learn the
    # small environments (the classic 4x4 map from the second epoch).
    train_tasks: list[int] = Field(default_factory=lambda: list(range(100)))
    test_tasks: list[int] = Field(default_factory=lambda: list(range(1000, 1010)))
    db: str = DEFAULT_URL
    namespace: str = "default"
    # Each is an environment in this process (a TextWorld game, a ScienceWorld JVM): hundreds at most.
    num_envs: int = Field(default=1, ge=1, le=256)
    # The update rule's own defaults (rlem.qlearning.Rule).
    n_step: int | None = Field(default=Rule.n_step, ge=1)
    gamma: float = Field(default=Rule.gamma, ge=0, le=1)
    update_mode: Averaging = Rule.mode
    lr: float = Field(default=Rule.lr, gt=0, le=1)
    double_q: bool = False
    k: int = Field(default=2, ge=0)
    # Deciding in a situation the memory has not met, the most similar state and those within this
    # much cosine of it stand in for it (rlem/policies/values.py).
    pool_margin: float = Field(default=DEFAULT_POOL_MARGIN, ge=0, le=2)
    # Share of training decisions taken uniformly at random (epsilon-greedy), for any policy.
    explore: float = Field(default=0.1, ge=0, le=1)
    # Ends episodes (truncated) after this many steps, on top of the environment's own limit.
    max_steps: int | None = Field(default=None, ge=1)
    token_budget: int = Field(default=1536, gt=0)
    advice_mode: Literal["threshold", "relative"] = "threshold"
    static: Path | None = None
    static_format: Literal["json", "rememberer-yaml"] = "json"
    seed: int = 0
    # None: what the environment suggests (envs.base.TextEnv.retrieval_text).
    retrieval_text: RetrievalText | None = None

    @model_validator(mode="after")
    def static_needs_a_file(self) -> RunConfig:
        """`static` memory reads fixed exemplars from a file; other modes take none."""
        if (self.memory == "static") != (self.static is not None):
            raise ValueError("--memory static takes its exemplars from --static FILE, and only it does")
        return self


def schedule(config: RunConfig, epoch: int) -> tuple[list[Job], list[Job]]:
    """An epoch's training and evaluation jobs."""
    train = [Job(f"e{epoch}-train-{seed}", seed, True) for seed in config.train_tasks]
    test = [Job(f"e{epoch}-eval-{seed}", seed, False) for seed in config.test_tasks]
    return train, test


class Run:
    """One run's output folder, components and bookkeeping."""

    def __init__(self, config: RunConfig, out: Path):
        self.config, self.out = config, out
        self.lock = FolderLock(out)
        self.envs: list[TextEnv] = []
        self.store: ExperienceStore | None = None
        try:
            self.envs = [make_env(config.env) for _ in range(config.num_envs)]
            self.check_environment()
            self.store = self.open_store()
            # Only a run that could start claims the folder: a bad --env or --db leaves none behind.
            self.run_id = self.claim_folder()
        except BaseException:
            for env in self.envs:
                env.close()
            if self.store is not None:
                self.store.close()
            self.lock.abandon()
            raise
        self.second = (
            self.store.open_sibling(second_table(config.namespace), internal=True)
            if self.store is not None and config.double_q
            else None
        )
        self.policy = make_policy(config.policy)
        self.records, trained_steps = self.resume()
        tables = None
        if self.store is not None and config.memory == "rlem":
            # Each trained step was one update, and double Q alternates tables per update.
            tables = Tables(
                [self.store] if self.second is None else [self.store, self.second], turn=trained_steps
            )
        rule = Rule(config.n_step, config.gamma, config.update_mode, config.lr, None, config.double_q)
        hf_tokenizer = getattr(self.policy, "tokenizer", None)
        exemplars = ExemplarConfig(
            k=config.k, advice_mode=config.advice_mode, token_budget=config.token_budget
        )
        self.agent = Agent(
            self.policy,
            self.store,
            self.second,
            tables,
            rule,
            exemplars,
            HFTokenizer(hf_tokenizer) if hf_tokenizer is not None else None,
            load_templates(self.policy.templates),
            np.random.default_rng(config.seed),
            config.explore,
            config.max_steps,
            pool_margin=config.pool_margin,
        )

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

    def open_store(self) -> ExperienceStore | None:
        """The memory: the run's namespace, the fixed exemplars of `static`, or none."""
        config = self.config
        if config.memory == "off":
            return None
        retrieval_text = config.retrieval_text or self.envs[0].retrieval_text
        if config.memory == "rlem":
            return ExperienceStore.open(
                StoreConfig(url=config.db, namespace=config.namespace, retrieval_text=retrieval_text)
            )
        assert config.static is not None
        # One namespace per file content: the same file is imported once, a changed one anew.
        digest = hashlib.sha256(config.static.read_bytes()).hexdigest()[:12]
        store = ExperienceStore.open(
            StoreConfig(
                url=config.db,
                namespace=internal_name(config.namespace, f"static-{digest}-{retrieval_text}"),
                retrieval_text=retrieval_text,
            ),
            internal=True,
        )
        if len(store) == 0:
            store.put(read_memory_file(config.static, config.static_format))
        return store

    def resume(self) -> tuple[list[dict], int]:
        """Keep the file lines of committed training episodes and finished evaluation ones.

        Returns the kept episode records and how many training steps they hold.
        """
        episodes = [
            json.loads(line) for line in self.path("episodes.jsonl").read_text().splitlines() if line.strip()
        ]
        if self.store is not None and self.config.memory == "rlem":
            committed = self.store.read(lambda tx: tx.journaled(self.run_id))
            keep = {e["key"] for e in episodes if e["split"] == "eval" or e["key"] in committed}
        else:
            keep = {e["key"] for e in episodes}
        kept = [e for e in episodes if e["key"] in keep]
        train_keys = {e["key"] for e in kept if e["split"] == "train"}
        trajectories = [t for t in read_episodes(self.path("trajectories.jsonl")) if t.run_key in train_keys]
        write_atomically(self.path("episodes.jsonl"), "".join(json.dumps(e) + "\n" for e in kept).encode())
        lines = "".join(t.model_dump_json(by_alias=True, exclude_none=True) + "\n" for t in trajectories)
        write_atomically(self.path("trajectories.jsonl"), lines.encode())
        return kept, sum(len(t.steps) for t in trajectories)

    def finish(self, epoch: int) -> Callable[[Finished], None]:
        """The callback for episodes of `epoch`: its lines, written before its last updates commit."""

        def write(finished: Finished, size: int | None) -> None:
            log = finished.log.model_copy(update={"run_key": finished.job.key})
            target = "trajectories.jsonl" if finished.job.training else "eval_trajectories.jsonl"
            append_episode(self.path(target), log)
            record = episode_record(finished, epoch, size)
            with self.path("episodes.jsonl").open("a") as handle:
                handle.write(json.dumps(record) + "\n")
            self.records.append(record)

        def done(finished: Finished) -> None:
            if finished.learner is not None:
                self.commit(finished, partial(write, finished))
            else:
                write(finished, len(self.store) if self.store is not None else None)

        return done

    def commit(self, finished: Finished, write: Callable[[int], None]) -> None:
        """The episode's remaining updates and its journal row, in one transaction; `write` gets the
        memory's size with them and puts the episode's lines on disk before the commit."""
        live, written = self.agent.tables, []

        def work(tx):
            tables = transaction_tables(tx, self.second, live.turn)
            finished.learner.finish(tables)
            tx.journal(self.run_id, finished.job.key)
            if not written:  # a transaction retried after a lock conflict writes the lines once
                write(len(tx))
                written.append(True)
            return tables.turn

        live.turn = self.store.transaction(work)

    def epoch(self, epoch: int, advance: Callable[[], None]) -> list[dict]:
        """Run an epoch's unfinished training, then evaluation, episodes; return all metric rows."""
        done = {r["key"] for r in self.records}
        callback = self.finish(epoch)

        def tracked(finished: Finished) -> None:
            callback(finished)
            advance()

        for jobs in schedule(self.config, epoch):
            self.agent.run([j for j in jobs if j.key not in done], self.envs, tracked)
        rows = aggregate(self.records)
        write_metrics(self.out, rows)
        plot_learning_curve(
            self.out, rows, f"{self.config.env}: {self.config.policy.backend}, memory {self.config.memory}"
        )
        return rows

    def close(self, *, save_index: bool = True) -> None:
        """Release environments, the policy and the memory (saving its index if `save_index`)."""
        for env in self.envs:
            env.close()
        self.policy.close()
        if self.second is not None:
            self.second.close(save_index=save_index)
        if self.store is not None:
            self.store.close(save_index=save_index)
        self.lock.release()

    def __enter__(self) -> Run:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc) -> None:
        self.close(save_index=succeeded(kind))
