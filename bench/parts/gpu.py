"""`rlem bench` part `gpu`: the GPU against this machine's CPU, side by side in one run.

FAISS flat search (one query at a time, and all queries in one batch) on the CPU and on the GPU,
with HNSW on the CPU beside them (FAISS has no GPU HNSW); MiniLM embeddings/s; SmolLM2 decisions/s
(transformers scoring), fp32 on the CPU and bf16 on the GPU; the main job's wall time. Without a
GPU (torch and FAISS both see none) the section says so and measures nothing. `bench/gpu_check.sh`
sets a GPU machine up and runs this part alone.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import torch
from rich.progress import Progress

from bench.parts.context import Context, ratio
from bench.parts.policy import measure, situations
from bench.synthetic import Clusters
from memory_store.vectors.embedder import SentenceTransformerEmbedder, packaged_model_path
from memory_store.vectors.index import VectorIndex
from rlem.policies.backends.hf import HFConfig, HFPolicy

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class GpuParams:
    """Sizes of the GPU comparison."""

    states: int
    queries: int  # searched one at a time, then all in one batch
    texts: int
    embed_batch: int
    decisions: int
    cpu_batches: tuple[int, ...]
    gpu_batches: tuple[int, ...]
    main_job: bool
    main_job_timeout_s: float = 600.0
    dim: int = 384
    k: int = 8
    seed: int = 20230607


FULL = GpuParams(1_000_000, 1000, 4096, 256, 96, cpu_batches=(1, 8), gpu_batches=(1, 8, 32), main_job=True)
QUICK = GpuParams(20_000, 50, 128, 64, 8, cpu_batches=(1,), gpu_batches=(1, 8), main_job=False)


def devices() -> dict[str, bool]:
    """Which GPU paths exist here: torch's (models) and FAISS's (the flat index)."""
    return {"torch_cuda": torch.cuda.is_available(), "faiss_gpus": faiss.get_num_gpus()}


def search_rows(params: GpuParams, gpu: bool, progress: Progress) -> list[dict[str, Any]]:
    """Flat search on the CPU (and the GPU), HNSW on the CPU: build, p50 one query at a time, queries/s
    in one batch."""
    clusters = Clusters.make(200, params.dim, 0.05, params.seed)
    points, _ = clusters.sample(params.states, params.seed + 1)
    queries, _ = clusters.sample(params.queries, params.seed + 2)
    ids = np.arange(len(points), dtype=np.int64)
    rows = []
    for kind, on_gpu in [("flat", False), *([("flat", True)] if gpu else []), ("hnsw", False)]:
        task = progress.add_task(f"FAISS {kind} on the {'GPU' if on_gpu else 'CPU'}", total=len(queries))
        index = VectorIndex(params.dim, kind, use_gpu=on_gpu)
        start = time.perf_counter()
        index.add(ids, points)
        build = time.perf_counter() - start
        single = []
        for query in queries:
            start = time.perf_counter()
            index.search(query[None], params.k)
            single.append((time.perf_counter() - start) * 1000)
            progress.advance(task)
        start = time.perf_counter()
        index.search(queries, params.k)
        batched = len(queries) / (time.perf_counter() - start)
        rows.append({"index": kind, "device": "gpu" if on_gpu else "cpu", "build_s": round(build, 2),
                     "single_p50_ms": round(float(np.median(single)), 4),
                     "batch_queries_per_s": round(batched, 1)})  # fmt: skip
    return rows


def embedding_rows(params: GpuParams, gpu: bool, progress: Progress) -> list[dict[str, Any]]:
    """MiniLM texts/s in batches of `embed_batch`, each device with a fresh embedder (no cache hits)."""
    texts = [
        f"You are at row {i % 97}, column {i // 97} of lake {i}; the goal is near."
        for i in range(params.texts)
    ]
    rows = []
    for device in ["cpu", *(["cuda"] if gpu else [])]:
        embedder = SentenceTransformerEmbedder(
            packaged_model_path(), device=device, batch_size=params.embed_batch
        )
        embedder.embed(["warm-up"])
        task = progress.add_task(f"MiniLM on {device}", total=1)
        start = time.perf_counter()
        embedder.embed(texts)
        rows.append({"device": device, "texts_per_s": round(len(texts) / (time.perf_counter() - start), 1)})
        progress.advance(task)
    return rows


def policy_rows(params: GpuParams, gpu: bool, progress: Progress) -> list[dict[str, Any]]:
    """SmolLM2 decisions/s by batch: fp32 on the CPU, bf16 on the GPU (`HFPolicy`'s own choice)."""
    rows = []
    for device, batches in [("cpu", params.cpu_batches), *([("cuda", params.gpu_batches)] if gpu else [])]:
        policy = HFPolicy(HFConfig(device=device))
        cases = situations(params.decisions + max(batches), policy)
        warm_up, timed = cases[: max(batches)], cases[max(batches) :]
        for batch in batches:
            task = progress.add_task(f"SmolLM2 on {device}, batch {batch}", total=1)
            rate = measure(policy, warm_up, timed, batch)["decisions_per_s"]
            rows.append({"device": device, "dtype": str(next(policy.model.parameters()).dtype),
                         "batch": batch, "decisions_per_s": round(rate, 2)})  # fmt: skip
            progress.advance(task)
    return rows


def main_job_row(params: GpuParams, progress: Progress) -> dict[str, Any]:
    """The main job (`python3 dev.py run`'s configuration) in a fresh folder: wall seconds, exit code."""
    task = progress.add_task("the main job", total=1)
    with tempfile.TemporaryDirectory(prefix="rlem-gpu-") as tmp:
        command = [sys.executable, "-m", "rlem.cli", "run", "--config", "examples/main_job.toml",
                   "--db", f"sqlite:///{tmp}/memory.db", "--out", f"{tmp}/out"]  # fmt: skip
        start = time.perf_counter()
        try:
            done = subprocess.run(command, cwd=ROOT, capture_output=True, timeout=params.main_job_timeout_s)
            code: int | None = done.returncode
        except subprocess.TimeoutExpired:
            code = None
        progress.advance(task)
        return {"wall_s": round(time.perf_counter() - start, 1), "returncode": code,
                "timed_out": code is None}  # fmt: skip


def section(context: Context, progress: Progress) -> dict[str, Any]:
    """Measure the GPU against the CPU, or say that there is no GPU to measure."""
    params = QUICK if context.quick else FULL
    seen = devices()
    if not seen["torch_cuda"] and not seen["faiss_gpus"]:
        return {"skipped": "no GPU here: torch.cuda.is_available() is false and FAISS sees no GPU", **seen}
    search = search_rows(params, seen["faiss_gpus"] > 0, progress)
    embedding = embedding_rows(params, seen["torch_cuda"], progress)
    decisions = policy_rows(params, seen["torch_cuda"], progress)
    rate = {(r["device"], r["batch"]): r["decisions_per_s"] for r in decisions}
    flat = {r["device"]: r for r in search if r["index"] == "flat"}
    texts = {r["device"]: r["texts_per_s"] for r in embedding}
    return {
        "params": asdict(params),
        **seen,
        "gpu_name": torch.cuda.get_device_name(0) if seen["torch_cuda"] else None,
        "search": search,
        "embedding": embedding,
        "decisions": decisions,
        "main_job": main_job_row(params, progress) if params.main_job else None,
        "ratios": {
            "flat single query, cpu / gpu time": ratio(
                flat["cpu"]["single_p50_ms"], flat.get("gpu", {}).get("single_p50_ms")
            ),
            "flat batch queries/s, gpu / cpu": ratio(
                flat.get("gpu", {}).get("batch_queries_per_s"), flat["cpu"]["batch_queries_per_s"]
            ),
            "MiniLM texts/s, gpu / cpu": ratio(texts.get("cuda"), texts["cpu"]),
            "SmolLM2 decisions/s at batch 1, gpu / cpu": ratio(rate.get(("cuda", 1)), rate[("cpu", 1)]),
        },
    }
