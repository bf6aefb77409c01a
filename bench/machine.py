"""What the benchmark ran on: CPU, memory, OS, library and database versions, GPUs."""

from __future__ import annotations

import os
import platform
import sqlite3
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (platform's guess elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def ram_gib() -> float | None:
    """Total memory in GiB, from /proc/meminfo."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def os_name() -> str:
    """The distribution's pretty name and the kernel."""
    pretty = ""
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                pretty = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return f"{pretty} ({platform.system()} {platform.release()})" if pretty else platform.platform()


def version(distribution: str) -> str | None:
    """An installed distribution's version, or None."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def postgres_version(url: str | None) -> str | None:
    """The PostgreSQL server's version, or None when it cannot be reached."""
    if not url:
        return None
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return str(connection.execute(text("SHOW server_version")).scalar())
    except Exception:  # noqa: BLE001 - any failure means "not reachable"
        return None
    finally:
        engine.dispose()


def load_average() -> float | None:
    """The 1-minute load average: other work on the machine skews the figures."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def describe_machine(postgres_url: str | None, load_average_start: float | None) -> dict[str, Any]:
    """Everything about the machine and software that the figures depend on."""
    import faiss
    import numpy
    import psycopg
    import sqlalchemy
    import torch

    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "ram_gib": ram_gib(),
        "os": os_name(),
        "python": sys.version.split()[0],
        "faiss": faiss.__version__,
        "faiss_omp_threads": faiss.omp_get_max_threads(),
        "numpy": numpy.__version__,
        "sqlalchemy": sqlalchemy.__version__,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "sentence_transformers": version("sentence-transformers"),
        "psycopg": psycopg.__version__,
        "postgresql_server": postgres_version(postgres_url),
        "sqlite": sqlite3.sqlite_version,
        "faiss_gpus": faiss.get_num_gpus(),
        "torch_cuda": torch.cuda.is_available(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "load_average_start": load_average_start,
        "load_average_end": load_average(),
    }
