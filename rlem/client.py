"""The Python client of `rlem serve`: `RemoteAgent` has the methods of the in-process `RLEMAgent`.

    with RemoteAgent.open("http://127.0.0.1:8321", token, namespace="shop") as agent:
        episode = agent.begin("Buy a red mug under $10.")
        action = episode.act("You are on the home page.", ["search mugs", "open cart"])
        episode.reward(0.0)
        episode.end("Order placed.", success=True)

Every request names its step, so the client retries connection errors, 429 and 503 (with backoff,
and the server's Retry-After) without applying anything twice; other failures raise a
`RemoteError` subclass with the server's one-line message. A reward is checked here and goes to the
server with the next act or the end: one request per step.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from rlem.agent.sessions import EndHook, EpisodeResult
from rlem.agent.steps import record_reward
from rlem.config import EPISODE_LEARNING, AgentConfig
from rlem.errors import RlemError
from rlem.learning.trajectory import EpisodeLog, StepLog
from rlem.policies.base import Decision, followed_advice


class RemoteError(RlemError):
    """The server refused a request; `status` and `code` say how, the message what to do."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code = status, code


class Unauthorized(RemoteError):
    """401: no valid API key."""


class Forbidden(RemoteError):
    """403: the key's scope does not allow this."""


class NotFound(RemoteError):
    """404: no such namespace, episode or state (or none this key may see)."""


class Conflict(RemoteError):
    """409: out of order, or in conflict with the resource's state."""


class Gone(RemoteError):
    """410: the server ended the episode (idle past its TTL, or a restart)."""


class TooLarge(RemoteError):
    """413: the request body is over the server's limit."""


class Invalid(RemoteError):
    """422: the request is invalid."""


class RateLimited(RemoteError):
    """429: over the key's rate, after every retry."""


class Unavailable(RemoteError):
    """503 or no connection, after every retry."""


ERRORS: dict[int, type[RemoteError]] = {
    401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict, 410: Gone, 413: TooLarge,
    422: Invalid, 429: RateLimited, 503: Unavailable,
}  # fmt: skip
RETRIED = (429, 503)


@dataclass(kw_only=True)
class Connection:
    """One server: its URL, the key, and the retry policy of every request."""

    url: str
    token: str | None
    timeout_s: float = 120.0
    retries: int = 5
    backoff_s: float = 0.2
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        self.http = httpx.Client(base_url=self.url.rstrip("/"), headers=headers, timeout=self.timeout_s)

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """One request's JSON answer, retried where that is safe; RemoteError otherwise."""
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                answer = self.http.request(method, path, json=body)
            except httpx.TransportError as exc:
                if last:
                    raise Unavailable(503, "unavailable", f"cannot reach {self.url}: {exc}") from None
                time.sleep(self.backoff_s * 2**attempt)
                continue
            if answer.status_code in RETRIED and not last:
                time.sleep(float(answer.headers.get("retry-after") or self.backoff_s * 2**attempt))
                continue
            if answer.is_success:
                return answer.json()
            raise error_of(answer)
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()


def error_of(answer: httpx.Response) -> RemoteError:
    """The typed error of a refused request."""
    try:
        detail = answer.json()["error"]
        code, message = detail["code"], detail["message"]
    except (ValueError, KeyError, TypeError):
        code, message = "error", f"HTTP {answer.status_code}: {answer.text[:200]}"
    return ERRORS.get(answer.status_code, RemoteError)(answer.status_code, code, message)


@dataclass(frozen=True)
class ActTiming:
    """How one act request went: its round trip as the client saw it, and the server's account."""

    seconds: float
    decide_ms: float  # the policy call that decided it
    queued_ms: float  # its wait for that batch
    batch_size: int

    @property
    def overhead_ms(self) -> float:
        """The round trip less the decision and the wait for it: HTTP, auth, the step protocol."""
        return self.seconds * 1000 - self.decide_ms - self.queued_ms


@dataclass(kw_only=True)
class RemoteEpisode:
    """One episode on the server; made by `RemoteAgent.begin`."""

    agent: RemoteAgent
    id: str
    task: str
    training: bool
    key: str
    seed: int | None
    env: str | None
    max_steps: int | None
    started: float = field(default_factory=time.perf_counter)
    steps: list[StepLog] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    advice: list[bool | None] = field(default_factory=list)
    asked: tuple[str, tuple[str, ...]] | None = None
    # The last step's reward (and the action taken, if not the one chosen) until a request takes it.
    unsent: dict[str, Any] = field(default_factory=dict)
    ended: bool = False

    @property
    def path(self) -> str:
        """The episode's URL path."""
        return f"{self.agent.base}/episodes/{self.id}"

    @property
    def out_of_steps(self) -> bool:
        """Whether the step limit is reached: the episode must end."""
        return self.max_steps is not None and len(self.steps) >= self.max_steps

    def act(self, observation: str, actions: Sequence[str]) -> str:
        """The agent's action in `observation`, one of `actions`."""
        return self.agent.act_many([(self, observation, actions)])[0]

    def ask(self, observation: str, actions: Sequence[str]) -> str:
        """The act request (`act_many` sends several at once)."""
        offered = tuple(actions)
        started = time.perf_counter()
        answer = self.agent.connection.call(
            "POST",
            self.path + "/act",
            {"step": len(self.steps), "observation": observation, "actions": list(offered)} | self.unsent,
        )
        self.unsent = {}
        if self.agent.on_act is not None:
            took = time.perf_counter() - started
            self.agent.on_act(ActTiming(took, answer["decide_ms"], answer["queued_ms"], answer["batch_size"]))
        decision = Decision(answer["action"], answer["reason"], explored=answer["kind"] == "explored",
                            fell_back=answer["kind"] == "fallback")  # fmt: skip
        self.decisions.append(decision)
        self.advice.append(followed_advice(answer["encouraged"], decision))
        self.asked = (observation, offered)
        return decision.action

    def reward(self, reward: float, *, action: str | None = None) -> None:
        """The reward for the last action; `action` if the caller took another of the offered ones.
        Checked here (SessionError, as in process); the server gets it with the next act or the end."""
        record_reward(self, reward, action)
        self.unsent = {"reward": float(reward)} | ({"taken": action} if action is not None else {})

    def feed(self, next_observation: str, *, done: bool) -> None:
        """Nothing to do: the server feeds a transition at the next act or at the end."""

    def end(
        self, observation: str = "", actions: Sequence[str] = (), *, success: bool = False
    ) -> EpisodeResult:
        """End the episode in its final `observation`; the server commits its last updates."""
        body = {
            "step": len(self.steps),
            "observation": observation,
            "actions": list(actions),
            "success": success,
        }
        answer = self.agent.connection.call("POST", self.path + "/end", body | self.unsent)
        self.unsent = {}
        self.ended = True
        self.agent.open_episodes.pop(self.id, None)
        log = EpisodeLog(task=self.task, steps=self.steps, final_observation=observation,
                         final_available_actions=list(actions), env=self.env, seed=self.seed, success=success,
                         episode_return=answer["episode_return"], run_key=self.key)  # fmt: skip
        result = EpisodeResult(key=self.key, training=self.training, log=log, decisions=self.decisions,
                               advice=self.advice, seconds=time.perf_counter() - self.started)  # fmt: skip
        for hook in self.agent.hooks:
            hook(result, answer["memory_size"])
        return result


@dataclass(frozen=True)
class Server:
    """Where `rlem run --server` sends its episodes."""

    url: str
    token: str | None

    def agent(self, config: AgentConfig, *, hooks: Sequence[EndHook] = ()) -> RemoteAgent:
        """A remote agent on `config`'s namespace, its episodes bringing `config`'s learning settings."""
        learning = {name: getattr(config, name) for name in EPISODE_LEARNING}
        return RemoteAgent.open(self.url, self.token, namespace=config.namespace, learning=learning,
                                explore=config.explore, max_steps=config.max_steps, hooks=hooks)  # fmt: skip


class RemoteAgent:
    """An agent served by `rlem serve`: one namespace, learning with the settings given at `open`.

    `on_act`, if set, is called with the `ActTiming` of every act request.
    """

    def __init__(
        self,
        connection: Connection,
        *,
        namespace: str,
        learning: dict[str, Any] | None = None,
        explore: float | None = None,
        max_steps: int | None = None,
        hooks: Sequence[EndHook] = (),
    ):
        self.connection, self.namespace = connection, namespace
        self.settings, self.explore, self.max_steps = dict(learning or {}), explore, max_steps
        self.hooks = list(hooks)
        self.base = f"/v1/namespaces/{namespace}"
        self.open_episodes: dict[str, RemoteEpisode] = {}
        self.pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="rlem-client")
        self.on_act: Callable[[ActTiming], None] | None = None
        # The in-process agent's memory and learning write path: both are the server's here.
        self.store = self.learning = None

    @classmethod
    def open(
        cls,
        url: str,
        token: str | None = None,
        *,
        namespace: str,
        learning: dict[str, Any] | None = None,
        explore: float | None = None,
        max_steps: int | None = None,
        hooks: Sequence[EndHook] = (),
        timeout_s: float = 120.0,
        retries: int = 5,
    ) -> RemoteAgent:
        """Connect to a server (checking that it is ready and the key is valid)."""
        connection = Connection(url=url, token=token, timeout_s=timeout_s, retries=retries)
        try:
            connection.call("GET", "/readyz")
            connection.call("GET", "/v1/episodes")
        except BaseException:
            connection.close()
            raise
        return cls(connection, namespace=namespace, learning=learning, explore=explore, max_steps=max_steps,
                   hooks=hooks)  # fmt: skip

    def begin(
        self,
        task: str,
        *,
        training: bool = True,
        key: str | None = None,
        seed: int | None = None,
        env: str | None = None,
        deterministic: bool = False,
        explore: float | None = None,
        max_steps: int | None = None,
    ) -> RemoteEpisode:
        """Start an episode of `task` on the server."""
        explore = self.explore if explore is None else explore
        max_steps = self.max_steps if max_steps is None else max_steps
        body = {"task": task, "training": training, "seed": seed, "env": env, "deterministic": deterministic,
                "explore": explore, "max_steps": max_steps, "learning": self.settings}  # fmt: skip
        answer = self.connection.call("POST", self.base + "/episodes", body)
        episode = RemoteEpisode(
            agent=self, id=answer["episode"], task=task, training=training, key=key or answer["episode"],
            seed=seed, env=env, max_steps=max_steps,
        )  # fmt: skip
        self.open_episodes[episode.id] = episode
        return episode

    def act_many(self, requests: Sequence[tuple[RemoteEpisode, str, Sequence[str]]]) -> list[str]:
        """One action per (episode, observation, actions), asked at once so the server batches them."""
        if len(requests) == 1:
            episode, observation, actions = requests[0]
            return [episode.ask(observation, actions)]
        asked = [
            self.pool.submit(episode.ask, observation, actions) for episode, observation, actions in requests
        ]
        return [future.result() for future in asked]

    def close(self, *, save_index: bool = True) -> None:
        """End this client's open episodes where they stand; one whose last action got no reward is
        left to the server, which ends it after its episode TTL. (`save_index`, as the in-process
        agent takes it, changes nothing: the index is the server's.)"""
        try:
            for episode in list(self.open_episodes.values()):
                if episode.asked is None and not episode.ended:
                    last = episode.steps[-1].observation if episode.steps else ""
                    episode.end(last)
        finally:
            self.pool.shutdown(wait=True)
            self.connection.close()

    def __enter__(self) -> RemoteAgent:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
