"""The one definition of every setting: `AgentConfig` (an agent on one memory) and `RunConfig` (an
agent, an environment and a schedule of episodes, as `rlem run` takes them).

The CLI's options, `rlem run --config FILE.toml`, `dev.py`'s main job and `bench` all build these;
their defaults live here and nowhere else.
"""

from __future__ import annotations

import ipaddress
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from memory_store import Averaging
from memory_store.config import DEFAULT_URL
from memory_store.limits import MAX_INT
from memory_store.vectors.embedder import RetrievalText
from rlem.learning.qlearning import Rule
from rlem.policies.factory import PolicySpec
from rlem.policies.values import DEFAULT_POOL_MARGIN

# Seeds one task list may name: a range like 0-99999999999999 would fill the memory first.
MAX_TASKS = 1_000_000
# Digits of the largest count (MAX_INT) read from text.
MAX_DIGITS = len(str(MAX_INT))

MemoryMode = Literal["rlem", "static", "off"]
Backend = Literal["hf", "openai", "llamacpp", "memory-greedy", "random"]
LLM_BACKENDS = ("hf", "openai", "llamacpp")


class AgentConfig(BaseModel):
    """An agent on one memory: where the memory is, which policy decides, and how it learns."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    db: str = Field(
        default=DEFAULT_URL, description="Database URL (sqlite:///FILE or postgresql+psycopg://...)."
    )
    namespace: str = Field(default="default", description="Memory namespace.")
    memory: MemoryMode = Field(default="rlem", description="rlem (learn), static (fixed exemplars) or off.")
    static: Path | None = Field(default=None, description="Memory file of fixed exemplars (--memory static).")
    static_format: Literal["json", "rememberer-yaml"] = Field(
        default="json", description="json or rememberer-yaml."
    )
    policy: Backend = Field(default="hf", description="hf, openai, llamacpp, memory-greedy or random.")
    decide: Literal["generate", "score", "guided"] | None = Field(
        default=None, description="How an LLM policy decides: generate, score or guided (its default)."
    )
    model: str | None = Field(default=None, description="Model path (hf, llamacpp) or NAME@URL (openai).")
    beta: float | None = Field(
        default=None,
        ge=0,
        description="guided: weight of the memory's values against the model's (default 5).",
    )
    temperature: float | None = Field(
        default=None,
        ge=0,
        description="hf score/guided: training draws from softmax(total/T); 0 takes the best.",
    )
    # The update rule's own defaults (rlem.learning.qlearning.Rule).
    n_step: int | None = Field(
        default=Rule.n_step, ge=1, description="Bootstrap horizon n, or none for full returns."
    )
    gamma: float = Field(default=Rule.gamma, ge=0, le=1, description="Discount factor.")
    update_mode: Averaging = Field(
        default=Rule.mode, description="Running mean over visits, or a constant rate."
    )
    lr: float = Field(default=Rule.lr, gt=0, le=1, description="Learning rate of the const mode.")
    similarity_floor: float | None = Field(
        default=None, description="Bootstrap 0 from stored neighbours less similar than this."
    )
    double_q: bool = Field(default=False, description="Two Q tables, alternating updates.")
    k: int = Field(
        default=2, ge=0, description="Similar states retrieved per decision (shown while they fit)."
    )
    pool_margin: float = Field(
        default=DEFAULT_POOL_MARGIN,
        ge=0,
        le=2,
        description="Deciding in a situation the memory has not met: the most similar state and those "
        "within this much cosine of it stand in for it.",
    )
    explore: float = Field(
        default=0.1, ge=0, le=1, description="Share of training decisions taken at random (epsilon-greedy)."
    )
    max_steps: int | None = Field(
        default=None,
        ge=1,
        description="End episodes after this many steps; default: the environment's limit.",
    )
    token_budget: int = Field(
        default=1536,
        gt=0,
        description="Prompt length limit in tokens: exemplars that do not fit are left out.",
    )
    advice_mode: Literal["threshold", "relative"] = Field(
        default="threshold", description="Which exemplar actions are advised against."
    )
    seed: int = Field(default=0, description="Seed of the agent's and the policy's random draws.")
    retrieval_text: RetrievalText | None = Field(
        default=None,
        description="Match similar states on task+observation or the observation alone; default: what "
        "the environment suggests (the observation for random FrozenLake maps).",
    )

    @field_validator("n_step", mode="before")
    @classmethod
    def n_step_text(cls, value: object) -> object:
        """`none` (full returns) or a count, as --n-step and TOML files spell it."""
        if isinstance(value, str):
            if value.strip().lower() == "none":
                return None
            if not is_count(value.strip()):
                raise ValueError(f"--n-step must be a positive integer or 'none', got {value[:40]!r}")
            return int(value)
        return value

    @model_validator(mode="after")
    def consistent(self) -> AgentConfig:
        """Options that only some policies or memory modes take are refused elsewhere."""
        if (self.memory == "static") != (self.static is not None):
            raise ValueError("--memory static takes its exemplars from --static FILE, and only it does")
        if self.beta is not None and not (self.policy == "hf" and self.decide == "guided"):
            raise ValueError(
                "--beta weighs the memory's values in --policy hf --decide guided, and only there"
            )
        if self.temperature is not None and not (
            self.policy == "hf" and self.decide in (None, "score", "guided")
        ):
            raise ValueError("--temperature is for --policy hf with --decide score or guided")
        if self.policy == "openai" and not self.model:
            raise ValueError("--policy openai needs --model NAME@URL, e.g. smollm2@http://127.0.0.1:8000/v1")
        if self.decide is not None and self.policy not in LLM_BACKENDS:
            raise ValueError(
                f"--decide is for the LLM policies ({', '.join(LLM_BACKENDS)}), not {self.policy}"
            )
        return self

    def rule(self) -> Rule:
        """The update rule these settings choose."""
        return Rule(
            n_step=self.n_step,
            gamma=self.gamma,
            mode=self.update_mode,
            lr=self.lr,
            similarity_floor=self.similarity_floor,
            double_q=self.double_q,
        )

    def policy_spec(self) -> PolicySpec:
        """The policy backend and its settings (rlem.policies.factory)."""
        settings: dict = {"seed": self.seed}
        if self.policy == "openai":
            name, _, url = (self.model or "").partition("@")
            settings |= {"model": name} | ({"base_url": url} if url else {})
        elif self.model:
            settings["model"] = self.model
        for name in ("decide", "beta", "temperature"):
            if getattr(self, name) is not None:
                settings[name] = getattr(self, name)
        return PolicySpec(backend=self.policy, settings=settings)


class RunConfig(AgentConfig):
    """An `rlem run`: the agent's settings, the environment and the epochs of tasks; saved as
    config.json in the output folder and checked on resume."""

    env: str = Field(
        default="frozenlake:4x4:random",
        description="Environment spec, e.g. frozenlake:4x4:random, taxi, or package.module:factory[:ARG...] "
        "(see `rlem envs`).",
    )
    epochs: int = Field(default=3, ge=1, description="Rounds of training, then evaluation, episodes.")
    # A few hundred training episodes over the default 3 epochs: enough for the memory to learn the
    # small environments (the classic 4x4 map from the second epoch).
    train_tasks: list[int] = Field(
        default_factory=lambda: list(range(100)), description="Training environment seeds, e.g. 0-99."
    )
    test_tasks: list[int] = Field(
        default_factory=lambda: list(range(1000, 1010)), description="Held-out evaluation seeds."
    )
    # Each is an environment in this process (a TextWorld game, a ScienceWorld JVM): hundreds at most.
    num_envs: int = Field(
        default=1, ge=1, le=256, description="Environments stepped in lockstep, one policy batch."
    )

    @field_validator("train_tasks", "test_tasks", mode="before")
    @classmethod
    def task_text(cls, value: object) -> object:
        """Seeds spelled as `0-19`, `3,5,8` or a mix (`parse_tasks`)."""
        return parse_tasks(value) if isinstance(value, str) else value

    def agent(self, *, retrieval_text: RetrievalText) -> AgentConfig:
        """The agent's part of the run, matching states on `retrieval_text` unless it is set here."""
        fields = {name: getattr(self, name) for name in AgentConfig.model_fields}
        return AgentConfig(**fields | {"retrieval_text": self.retrieval_text or retrieval_text})


def is_count(text: str) -> bool:
    """Whether `text` is a count read from text: ASCII digits ("²" is a digit to Python, yet not
    to int()), no more of them than MAX_INT has."""
    return text.isascii() and text.isdigit() and len(text) <= MAX_DIGITS


def parse_tasks(text: str) -> list[int]:
    """`0-19`, `3,5,8`, or a mix: environment seeds (ValueError saying what is wrong)."""
    seeds: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        low, _, high = part.partition("-")
        if not all(is_count(n) for n in (low, high or low)):
            raise ValueError(f"task list {text[:40]!r}: use seeds like 0-19 or 3,5,8")
        first, last = int(low), int(high or low)
        if last < first:
            raise ValueError(f"task range {part!r} runs backwards: write it low-high, like {last}-{first}")
        if len(seeds) + last - first + 1 > MAX_TASKS:
            raise ValueError(f"task list {text[:40]!r} names more than {MAX_TASKS:,} seeds")
        seeds.extend(range(first, last + 1))
    if not seeds:
        raise ValueError(f"task list {text[:40]!r} names no seed: use seeds like 0-19 or 3,5,8")
    return seeds


def spell_tasks(seeds: list[int]) -> str:
    """Seeds as `parse_tasks` reads them, runs of consecutive ones as `low-high`."""
    parts, start = [], 0
    for i in range(1, len(seeds) + 1):
        if i == len(seeds) or seeds[i] != seeds[i - 1] + 1:
            low, high = seeds[start], seeds[i - 1]
            parts.append(f"{low}-{high}" if high > low else str(low))
            start = i
    return ",".join(parts)


def read_config_file(path: Path) -> dict:
    """The settings of a TOML file (`rlem run --config`): field names as keys, `-` or `_` alike."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not TOML: {exc}") from None
    return {key.replace("-", "_"): value for key, value in document.items()}


# The learning settings an episode brings to `rlem serve` (the rest of an agent's are the server's).
EPISODE_LEARNING = ("n_step", "gamma", "update_mode", "lr", "similarity_floor", "double_q", "retrieval_text")


class ServeConfig(BaseModel):
    """`rlem serve`: where it listens, how it batches and guards requests, and the agent settings every
    namespace's agent starts from (each episode brings its namespace and learning settings)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    agent: AgentConfig = Field(default_factory=AgentConfig, description="Policy, memory and agent defaults.")
    host: str = Field(default="127.0.0.1", description="Address to listen on.")
    port: int = Field(default=8321, ge=0, le=65535, description="Port to listen on.")
    auth: bool = Field(
        default=True, description="Require API keys; off only for development on a loopback address."
    )
    episode_ttl_s: float = Field(
        default=600.0, gt=0, description="End an episode idle this many seconds as truncated."
    )
    batch_wait_ms: float = Field(
        default=5.0,
        ge=0,
        le=1000,
        description="Longest wait of a decision batch for the act requests of episodes in mid-step "
        "(a quarter of the last decision's time, if longer).",
    )
    max_batch: int = Field(default=64, ge=1, le=4096, description="Largest decision batch.")
    max_body_bytes: int = Field(
        default=64 * 1024 * 1024, ge=1024, description="Largest request body (imports included)."
    )
    max_page: int = Field(default=500, ge=1, description="Most states one listing page returns.")
    rate_limit: float | None = Field(
        default=None, gt=0, description="Requests per second allowed per API key (off by default)."
    )
    key_cache_s: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="Seconds a verified API key is trusted without reading the database again: a key "
        "revoked elsewhere is refused within this time (0: check every request).",
    )
    log_dir: Path = Field(
        default=Path("rlem-data/served"), description="Per-namespace trajectory logs (the replay format)."
    )
    backup_dir: Path = Field(default=Path("rlem-backups"), description="Where backups are written.")

    @model_validator(mode="after")
    def consistent(self) -> ServeConfig:
        """A server learns into namespaces; auth is off only on loopback."""
        if self.agent.memory != "rlem":
            raise ValueError("rlem serve learns into the memory: --memory static and off are for rlem run")
        if not self.auth and not is_loopback(self.host):
            raise ValueError(
                f"--no-auth serves without API keys, so only on a loopback address, not --host {self.host}"
            )
        return self

    @property
    def db(self) -> str:
        """The memory database's URL."""
        return self.agent.db


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
