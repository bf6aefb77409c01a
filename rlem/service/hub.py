"""What one `rlem serve` process holds: the policy (loaded once), an agent per namespace sharing it,
the open episodes, and the one thread every call reaching the store or the policy runs on.

An agent is a `RLEMAgent` on one namespace with the learning settings its episodes came with; its
settings hold while it has open episodes (another episode with other settings is 409), and it is
reopened with new ones when none are open. Every training episode is appended to the namespace's
trajectory log (`<log_dir>/<name>.jsonl`, the replay format) before its last updates commit, with a
row of the namespace's journal in the same transaction: on restart, lines without one are dropped,
so the log replays to the memory (`rlem memory replay`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from memory_store import default_embedder
from memory_store.files import write_atomically
from rlem.agent.sessions import EpisodeResult, RLEMAgent, SessionError, Turn, check_request
from rlem.config import AgentConfig, ServeConfig
from rlem.learning.journal import committed
from rlem.learning.trajectory import read_episodes
from rlem.policies.base import Policy
from rlem.policies.factory import make_policy
from rlem.service.batching import Batcher
from rlem.service.errors import conflict, gone, not_found
from rlem.service.ledger import Phase, Served
from rlem.service.metrics import Metrics

T = TypeVar("T")
log = logging.getLogger("rlem.service")

# An ended episode stays (for retries of its end) this long at least, then only its fate is kept.
KEEP_ENDED_S = 300.0
# An open episode answered this recently is expected to act again soon: a batch may wait for it.
COMING_S = 2.0
# A client that ended an episode this recently is expected to begin another and act in it.
NEXT_EPISODE_S = 0.1
FORGOTTEN = 100_000


def log_name(namespace: str) -> str:
    """A namespace's trajectory log file name: readable, and distinct for distinct names."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", namespace)[:60]
    return f"{readable}-{hashlib.sha256(namespace.encode()).hexdigest()[:12]}.jsonl"


def journal_id(namespace: str) -> str:
    """The run journal id under which the service records a namespace's committed episodes."""
    return "serve-" + hashlib.sha256(namespace.encode()).hexdigest()[:40]


@dataclass(kw_only=True)
class Slot:
    """One namespace's agent and its open episodes."""

    namespace: str
    config: AgentConfig
    agent: RLEMAgent
    log: Path
    episodes: dict[str, Served] = field(default_factory=dict)

    @property
    def open_count(self) -> int:
        """Episodes still taking requests."""
        return sum(1 for s in self.episodes.values() if s.open)


@dataclass(frozen=True)
class Answer:
    """A decision for one act request, with what was shown and how the batch went."""

    turn: Turn
    batch_size: int
    decide_s: float


class Hub:
    """The service's agents and episodes; every call reaching the store or the policy runs on the agent
    thread."""

    def __init__(self, config: ServeConfig, *, policy: Policy, metrics: Metrics):
        self.config, self.policy, self.metrics = config, policy, metrics
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rlem-agent")
        self.slots: dict[str, Slot] = {}
        self.served: dict[str, Served] = {}
        # The open ones among them: what the batcher counts on every arrival, without the ended.
        self.live: dict[str, Served] = {}
        # How forgotten episodes ended, the newest FORGOTTEN of them, to say so if they are touched.
        self.forgotten: dict[str, Phase] = {}
        self.boot = secrets.token_hex(4)
        self.counter = 0
        self.config.log_dir.mkdir(parents=True, exist_ok=True)
        boots = self.config.log_dir / "boots.txt"
        self.earlier_boots = set(boots.read_text().split()) if boots.exists() else set()
        with boots.open("a") as handle:
            handle.write(self.boot + "\n")
        self.batcher = Batcher(
            self.decide_batch,
            self.thread,
            wait_s=config.batch_wait_ms / 1000,
            max_batch=config.max_batch,
            expected=self.expected,
        )
        # When clients' episodes ended, oldest first; each begin takes one off.
        self.ends: deque[float] = deque()
        self.slot_lock = asyncio.Lock()
        self.reaper: asyncio.Task | None = None
        self.ready = False

    @classmethod
    async def start(cls, config: ServeConfig, metrics: Metrics) -> Hub:
        """Load the policy (off the event loop) and begin batching and reaping idle episodes."""
        loop = asyncio.get_running_loop()
        policy = await loop.run_in_executor(None, partial(make_policy, config.agent.policy_spec()))
        hub = cls(config, policy=policy, metrics=metrics)
        # The embedding model too, so that the first decision does not wait for it.
        await hub.run(lambda: default_embedder().embed(["rlem serve"]))
        hub.batcher.start()
        hub.reaper = asyncio.create_task(hub.reap(), name="rlem-reaper")
        hub.ready = True
        return hub

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn` on the agent thread."""
        return await asyncio.get_running_loop().run_in_executor(self.thread, partial(fn, *args, **kwargs))

    # Agents per namespace.

    def agent_config(self, namespace: str, learning: dict[str, Any]) -> AgentConfig:
        """The agent settings of an episode in `namespace` with the learning settings it came with."""
        base = self.config.agent.model_dump(exclude_unset=False)
        return AgentConfig.model_validate(base | {"namespace": namespace} | learning)

    async def slot(self, namespace: str, config: AgentConfig) -> Slot:
        """The namespace's agent with these settings, opened or reopened as needed."""
        async with self.slot_lock:
            slot = self.slots.get(namespace)
            if slot is not None and slot.config != config:
                if slot.open_count:
                    differ = sorted(
                        name for name in AgentConfig.model_fields
                        if getattr(slot.config, name) != getattr(config, name)
                    )  # fmt: skip
                    raise conflict(
                        f"namespace {namespace!r} is learning with other settings ({', '.join(differ)}) "
                        f"in {slot.open_count} open episode(s): use the same settings or wait for them to end"
                    )
                await self.run(slot.agent.close)
                del self.slots[namespace]
                slot = None
            if slot is None:
                slot = await self.run(self.open_slot, namespace, config)
                self.slots[namespace] = slot
            return slot

    def open_slot(self, namespace: str, config: AgentConfig) -> Slot:
        """Open a namespace's agent, keeping the log lines of committed episodes only (agent thread)."""
        log = self.config.log_dir / log_name(namespace)
        agent = RLEMAgent.open(config, policy=self.policy, journal=journal_id(namespace), log=log)
        if agent.learning is not None:
            logged = read_episodes(log) if log.exists() else []
            done = agent.learning.store.read(lambda tx: committed(tx, journal_id(namespace)))
            kept = [e for e in logged if e.run_key in done]
            if len(kept) != len(logged):
                lines = "".join(e.model_dump_json(by_alias=True, exclude_none=True) + "\n" for e in kept)
                write_atomically(log, lines.encode())
            agent.learning.resume(kept)
        return Slot(namespace=namespace, config=config, agent=agent, log=log)

    # Episodes.

    async def begin(self, namespace: str, *, learning: dict[str, Any], **episode: Any) -> Served:
        """A new episode in `namespace` (`episode`: RLEMAgent.begin's settings)."""
        slot = await self.slot(namespace, self.agent_config(namespace, learning))
        self.counter += 1
        key = f"{self.boot}-{self.counter}"
        begun = await self.run(slot.agent.begin, key=key, **episode)
        if self.ends:
            self.ends.popleft()
        served = Served(
            id=key, namespace=namespace, episode=begun, slot=slot, ttl_s=self.config.episode_ttl_s
        )
        slot.episodes[key] = served
        self.served[key] = served
        self.live[key] = served
        self.metrics.open_episodes.inc()
        return served

    def find(self, namespace: str, episode_id: str) -> Served:
        """An episode of `namespace` by id; 410 for one the server ended and forgot, 404 otherwise."""
        served = self.served.get(episode_id)
        if served is not None and served.namespace == namespace:
            return served
        boot, _, _ = episode_id.partition("-")
        fate = self.forgotten.get(episode_id) if served is None else None
        if fate is Phase.EXPIRED:
            raise gone(
                f"episode {episode_id} was idle for more than {self.config.episode_ttl_s:g} s and was ended "
                "as truncated: begin a new one"
            )
        if fate is Phase.ENDED:
            raise gone(f"episode {episode_id} has ended: begin a new one")
        if served is None and boot in self.earlier_boots:
            raise gone(
                f"episode {episode_id} was open when the server restarted: it ended as truncated there "
                "(updates already due are kept); begin a new one"
            )
        raise not_found(f"no episode {episode_id!r} in namespace {namespace!r} on this server")

    async def act(self, served: Served, observation: str, actions: Sequence[str]) -> tuple[Answer, float]:
        """The episode's next decision, made in a batch with other episodes' (see `Batcher`), and the
        seconds it waited for that batch."""
        answer = await self.batcher.submit((served, observation, actions))
        self.metrics.decisions.inc()
        return answer

    def expected(self) -> int:
        """How many act requests may join the batch being gathered: episodes in mid-step, and the next
        episodes of clients that just ended one."""
        while self.ends and time.monotonic() - self.ends[0] > NEXT_EPISODE_S:
            self.ends.popleft()
        return len(self.ends) + sum(1 for s in self.live.values() if s.coming(COMING_S))

    def decide_batch(self, items: Sequence[tuple[Served, str, Sequence[str]]]) -> list[Answer | Exception]:
        """One batch on the agent thread: each request checked alone, then one policy call per agent."""
        answers: list[Answer | Exception | None] = [None] * len(items)
        groups: dict[int, list[int]] = {}
        for i, (served, observation, actions) in enumerate(items):
            try:
                check_request(served.episode, observation, actions)
            except SessionError as exc:
                answers[i] = exc
                continue
            groups.setdefault(id(served.slot), []).append(i)
        self.metrics.batch_size.observe(len(items))
        for picked in groups.values():
            agent = items[picked[0]][0].slot.agent
            started = time.perf_counter()
            try:
                turns = agent.decide_many([(items[i][0].episode, items[i][1], items[i][2]) for i in picked])
            except Exception as exc:  # noqa: BLE001 - the group's requests all get it
                for i in picked:
                    answers[i] = exc
                continue
            seconds = time.perf_counter() - started
            self.metrics.decide_seconds.observe(seconds)
            for i, turn in zip(picked, turns, strict=True):
                answers[i] = Answer(turn, len(picked), seconds)
        return answers  # type: ignore[return-value]

    async def end(
        self, served: Served, observation: str, actions: Sequence[str], *, success: bool
    ) -> tuple[EpisodeResult, int | None]:
        """End the episode: its remaining updates and log line in one transaction (training); returns
        it with the memory's size after."""

        def finish() -> tuple[EpisodeResult, int | None]:
            result = served.episode.end(observation, actions, success=success)
            store = served.slot.agent.store
            return result, len(store) if store is not None else None

        result, size = await self.run(finish)
        self.ends.append(time.monotonic())
        self.closed(served, result)
        if size is not None:
            self.metrics.memory_states.labels(served.namespace).set(size)
        return result, size

    def closed(self, served: Served, result: Any) -> None:
        """Count an ended episode."""
        self.live.pop(served.id, None)
        self.metrics.open_episodes.dec()
        if served.episode.training:
            self.metrics.updates.inc(len(result.log.steps))

    async def expire(self, served: Served) -> None:
        """End an episode as truncated (the step-limit rule); later requests get 410."""
        served.phase = Phase.EXPIRED
        self.live.pop(served.id, None)
        result = await self.run(served.slot.agent.truncate, served.episode)
        self.closed(served, result)

    async def reap(self) -> None:
        """End episodes idle past the TTL, and forget ended ones a while later, until cancelled."""
        ttl = self.config.episode_ttl_s
        while True:
            await asyncio.sleep(min(max(ttl / 4, 0.05), 5.0))
            for served in list(self.served.values()):
                if served.busy is not None or served.idle_s() <= ttl:
                    continue
                if served.open:
                    await self.expire(served)
                elif served.idle_s() > max(2 * ttl, KEEP_ENDED_S):  # retries of its end are long over
                    self.served.pop(served.id, None)
                    served.slot.episodes.pop(served.id, None)
                    self.forgotten[served.id] = served.phase
                    if len(self.forgotten) > FORGOTTEN:
                        del self.forgotten[next(iter(self.forgotten))]

    def open_episodes(self, covers: Callable[[str], bool]) -> list[Served]:
        """The open episodes of the namespaces `covers` accepts."""
        return [s for s in self.live.values() if s.open and covers(s.namespace)]

    async def close(self) -> None:
        """Stop batching and reaping, end open episodes as truncated, release agents and the policy."""
        self.ready = False
        for task in (self.reaper,):
            if task is not None:
                task.cancel()
        await self.batcher.stop()
        ended = [s for s in self.live.values() if s.open and s.busy is None]
        for served in ended:
            await self.expire(served)
        log.info("rlem serve: stopping; %d open episode(s) ended as truncated", len(ended))
        for slot in list(self.slots.values()):
            await self.run(slot.agent.close)
        await self.run(self.policy.close)
        self.thread.shutdown(wait=True)
