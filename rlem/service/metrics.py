"""The service's Prometheus metrics, on a registry of its own (so that several apps can live in one
process, as tests make them)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Decision batches: powers of two up to the largest --max-batch worth running.
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Metrics:
    """Requests, latencies, decisions and their batches, updates, open episodes, memory sizes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "rlem_requests", "HTTP requests by route and status", ["method", "route", "status"], registry=r
        )
        self.latency = Histogram(
            "rlem_request_seconds", "HTTP request latency by route", ["method", "route"], registry=r
        )
        self.decisions = Counter("rlem_decisions", "Decisions answered to act requests", registry=r)
        self.batch_size = Histogram(
            "rlem_decision_batch_size", "Act requests per decision batch", buckets=BATCH_BUCKETS, registry=r
        )
        self.decide_seconds = Histogram(
            "rlem_decide_seconds",
            "Time of one batched policy call (retrieval, prompts, decisions)",
            registry=r,
        )
        self.updates = Counter(
            "rlem_updates_committed", "Learning updates of ended training episodes", registry=r
        )
        self.open_episodes = Gauge("rlem_open_episodes", "Episodes open on this server", registry=r)
        self.memory_states = Gauge(
            "rlem_memory_states", "States stored per namespace", ["namespace"], registry=r
        )
