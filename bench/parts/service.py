"""`rlem bench` part `service`: `rlem serve` under concurrent clients, against the same agent in process.

Each client is a process of its own running `rlem run --server`'s loop (`rlem.agent.run.play` on one
environment through `rlem.client.RemoteAgent`), so it sends one act request at a time and the
server gathers the clients' requests into decision batches. The in-process rows run the same loop
on `RLEMAgent` with 1 and 8 environments in lockstep (`rlem run --num-envs 1` and `8`). Every row
starts from an empty namespace, trains on the main job's random 4x4 maps with its settings, and
counts environment steps (one decision each) per second of wall time from the moment every
client is ready to the last one's end. Latency: an act request's round trip at the client, or an
`act_many` call in process; the server's overhead: the round trip less the decision and its wait
for the batch, as the server reports them. One server per policy, with auth on (every request
checks its key).
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from rich.progress import Progress

from bench.machine import load_average
from bench.parts.context import Context, ratio
from envs import make_env
from rlem.agent.run import Job, play
from rlem.agent.sessions import RLEMAgent
from rlem.client import ActTiming, Server
from rlem.config import AgentConfig, RunConfig, read_config_file
from rlem.policies.base import Policy
from rlem.policies.factory import make_policy

ROOT = Path(__file__).resolve().parents[2]
MAIN_JOB = ROOT / "examples" / "main_job.toml"
# A server that has not answered /readyz by then has failed to start.
START_TIMEOUT_S = 300


@dataclass(frozen=True)
class ServiceParams:
    """Who runs: the policies (with the training episodes each row runs), client counts, in-process
    environment counts."""

    policies: tuple[tuple[str, int], ...]
    clients: tuple[int, ...]
    in_process: tuple[int, ...] = (1, 8)
    batch_wait_ms: float = 5.0


FULL = ServiceParams(policies=(("memory-greedy", 192), ("smollm2-guided", 48)), clients=(1, 4, 8, 16))
QUICK = ServiceParams(policies=(("memory-greedy", 16),), clients=(1, 4))


def run_config(policy: str) -> RunConfig:
    """The main job's settings with `policy`: SmolLM2 guided is the main job itself."""
    config = RunConfig.model_validate(read_config_file(MAIN_JOB))
    return (
        config
        if policy == "smollm2-guided"
        else RunConfig.model_validate(config.model_dump() | {"policy": policy, "decide": None})
    )


def jobs(count: int) -> list[Job]:
    """`count` training episodes on the main job's maps (seeds from 0)."""
    return [Job(f"train-{seed}", seed, True) for seed in range(count)]


def counter(steps: list[int]):
    """An end hook adding each episode's steps to `steps`."""
    return lambda result, size: steps.append(len(result.log.steps))


def latencies(seconds: list[float]) -> dict[str, float]:
    """p50 and p99 in ms."""
    ms = np.array(seconds) * 1000
    return {"latency_p50_ms": float(np.percentile(ms, 50)), "latency_p99_ms": float(np.percentile(ms, 99))}


class TimedAgent:
    """An in-process agent whose `act_many` calls are timed: how long each environment waits for
    its action."""

    def __init__(self, agent: RLEMAgent):
        self.agent, self.seconds = agent, []

    def begin(self, task: str, **episode: Any):
        """RLEMAgent.begin."""
        return self.agent.begin(task, **episode)

    def act_many(self, requests):
        """RLEMAgent.act_many, timed."""
        started = time.perf_counter()
        actions = self.agent.act_many(requests)
        self.seconds.append(time.perf_counter() - started)
        return actions


def in_process(
    config: RunConfig, agent_config: AgentConfig, policy: Policy, *, envs: int, count: int, namespace: str
) -> dict[str, Any]:
    """Steps/s of `play` on RLEMAgent with `envs` environments in lockstep, in a new namespace."""
    made = [make_env(config.env) for _ in range(envs)]
    steps: list[int] = []
    agent_config = agent_config.model_copy(update={"namespace": namespace})
    with RLEMAgent.open(agent_config, policy=policy, hooks=[counter(steps)]) as agent:
        timed = TimedAgent(agent)
        started = time.perf_counter()
        play(timed, jobs(count), made, lambda: None)  # type: ignore[arg-type]
        seconds = time.perf_counter() - started
    for env in made:
        env.close()
    return {"where": "in process", "envs": envs, "episodes": len(steps), "steps": sum(steps),
            "seconds": seconds, "steps_per_s": sum(steps) / seconds, **latencies(timed.seconds)}  # fmt: skip


def client_main(url: str, token: str, namespace: str, settings: dict, queue, ready, out) -> None:
    """One client process: episodes taken from `queue` one by one (as an environment of `rlem run`
    takes the next job) through the server, until it takes None; puts its counts, times and act
    timings on `out`."""
    config = RunConfig.model_validate(settings)
    env = make_env(config.env)
    steps: list[int] = []
    timings: list[ActTiming] = []
    agent_config = config.agent(retrieval_text=env.retrieval_text).model_copy(update={"namespace": namespace})
    with Server(url, token).agent(agent_config, hooks=[counter(steps)]) as agent:
        agent.on_act = timings.append
        ready.wait()
        started = time.time()
        while (seed := queue.get()) is not None:
            play(agent, [Job(f"train-{seed}", seed, True)], [env], lambda: None)
        out.put((sum(steps), len(steps), started, time.time(), timings))
    env.close()


def served(
    server: RunningServer, config: RunConfig, *, clients: int, count: int, namespace: str
) -> dict[str, Any]:
    """Steps/s of `clients` client processes sharing `count` episodes through the server, in a new
    namespace."""
    spawn = multiprocessing.get_context("spawn")
    ready, out, queue = spawn.Barrier(clients + 1), spawn.Queue(), spawn.Queue()
    # One None per client ends it: a non-blocking get may find the queue's lock held by another
    # client and report it empty while seeds are left.
    for seed in [job.seed for job in jobs(count)] + [None] * clients:
        queue.put(seed)
    processes = [
        spawn.Process(
            target=client_main,
            args=(server.url, server.token, namespace, config.model_dump(), queue, ready, out),
        )
        for _ in range(clients)
    ]
    for process in processes:
        process.start()
    before = server.batches()
    ready.wait(timeout=START_TIMEOUT_S)
    results = [out.get(timeout=3600) for _ in processes]
    for process in processes:
        process.join(60)
    after = server.batches()
    steps = sum(r[0] for r in results)
    seconds = max(r[3] for r in results) - min(r[2] for r in results)
    decided, batches = after[0] - before[0], after[1] - before[1]
    timings = [t for r in results for t in r[4]]
    return {"where": "rlem serve", "clients": clients, "episodes": sum(r[1] for r in results), "steps": steps,
            "seconds": seconds, "steps_per_s": steps / seconds, **latencies([t.seconds for t in timings]),
            "overhead_p50_ms": float(np.median([t.overhead_ms for t in timings])),
            "queued_p50_ms": float(np.median([t.queued_ms for t in timings])),
            "mean_batch": round(decided / batches, 2) if batches else None}  # fmt: skip


@dataclass
class RunningServer:
    """An `rlem serve` process on a free loopback port and the admin key it printed."""

    process: subprocess.Popen
    url: str
    token: str

    @classmethod
    def start(cls, db: str, folder: Path, args: Sequence[str]) -> RunningServer:
        """Start the server and wait until it is ready."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        command = [sys.executable, "-m", "rlem.cli", "serve", "--db", db, "--port", str(port),
                   "--log-dir", str(folder / "served"), "--backup-dir", str(folder / "backups"),
                   *args]  # fmt: skip
        env = os.environ | {"TOKENIZERS_PARALLELISM": "false"}
        errors = (folder / "serve.err").open("w")
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True, env=env)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"rlem serve did not start: {(folder / 'serve.err').read_text()[-2000:]}")
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        assert process.stdout is not None
        return cls(process, url, process.stdout.readline().strip())

    def batches(self) -> tuple[float, float]:
        """Decisions made in batches so far, and the batches (from /metrics)."""
        text = httpx.get(self.url + "/metrics", headers={"Authorization": f"Bearer {self.token}"}).text
        values = {}
        for line in text.splitlines():
            for name in ("rlem_decision_batch_size_sum", "rlem_decision_batch_size_count"):
                if line.startswith(name + " "):
                    values[name] = float(line.split()[1])
        return values["rlem_decision_batch_size_sum"], values["rlem_decision_batch_size_count"]

    def stop(self) -> None:
        """SIGTERM and wait."""
        self.process.terminate()
        self.process.wait(120)


def server_args(config: RunConfig, batch_wait_ms: float) -> list[str]:
    """`rlem serve`'s options for the policy and prompt settings of `config`."""
    args = ["--policy", config.policy, "--k", str(config.k), "--token-budget", str(config.token_budget),
            "--explore", str(config.explore), "--seed", str(config.seed),
            "--batch-wait-ms", str(batch_wait_ms)]  # fmt: skip
    if config.decide is not None:
        args += ["--decide", config.decide]
    return args


def measure(name: str, episodes: int, params: ServiceParams, workdir: Path, progress: Progress) -> list[dict]:
    """Every row of one policy: in process first, then one server for all client counts."""
    config = run_config(name)
    task = progress.add_task(f"service, {name}", total=len(params.in_process) + len(params.clients))
    rows = []
    folder = workdir / name
    folder.mkdir(parents=True)
    env = make_env(config.env)
    agent_config = config.agent(retrieval_text=env.retrieval_text).model_copy(
        update={"db": f"sqlite:///{folder / 'in-process.db'}"}
    )
    env.close()
    policy = make_policy(agent_config.policy_spec())
    try:
        # One warm-up episode first, here and on the server: the first decisions load and compile.
        in_process(config, agent_config, policy, envs=1, count=1, namespace="warm-up")
        for envs in params.in_process:
            row = in_process(
                config, agent_config, policy, envs=envs, count=episodes, namespace=f"local-{envs}"
            )
            rows.append(row | {"load_avg_1m": load_average()})
            progress.advance(task)
    finally:
        policy.close()
    args = server_args(config, params.batch_wait_ms)
    server = RunningServer.start(f"sqlite:///{folder / 'served.db'}", folder, args)
    try:
        served(server, config, clients=1, count=1, namespace="warm-up")
        for clients in params.clients:
            row = served(server, config, clients=clients, count=episodes, namespace=f"served-{clients}")
            rows.append(row | {"load_avg_1m": load_average()})
            progress.advance(task)
    finally:
        server.stop()
    return [{"policy": name, **row} for row in rows]


def section(context: Context, progress: Progress) -> dict[str, Any]:
    """Steps/s through the server by client count against in process, and the ratios at 8."""
    params = QUICK if context.quick else FULL
    rows = [
        row
        for name, episodes in params.policies
        for row in measure(name, episodes, params, context.workdir / "service", progress)
    ]
    ratios = {}
    for name, _ in params.policies:
        rate = {
            (r["where"], r.get("clients", r.get("envs"))): r["steps_per_s"]
            for r in rows
            if r["policy"] == name
        }
        ratios[f"{name}: in process x8 / x1"] = ratio(rate["in process", 8], rate["in process", 1])
        for clients in params.clients:
            ratios[f"{name}: {clients} clients / in process x8"] = ratio(
                rate["rlem serve", clients], rate["in process", 8]
            )
    return {"params": asdict(params), "env": run_config("memory-greedy").env, "rows": rows, "ratios": ratios}
