"""`rlem serve` as a real process on a free loopback port, as users start it, and HTTP to it.

with ServerProcess.start(db_url, tmp_path) as server:
    server.post("/v1/namespaces/a/episodes", {"task": "t"}, token=server.token)
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

# A server that has not answered /healthz by then has failed to start (torch, MiniLM and the policy
# load first: seconds on this machine).
START_TIMEOUT_S = 120


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(kw_only=True)
class ServerProcess:
    """One running `rlem serve`; `token` is the admin key it printed on a database without keys."""

    process: subprocess.Popen
    url: str
    port: int
    stderr: Path
    token: str | None = None
    args: list[str] = field(default_factory=list)

    @classmethod
    def start(
        cls,
        db_url: str,
        folder: Path,
        *args: str,
        policy: str = "memory-greedy",
        port: int | None = None,
        env: dict[str, str] | None = None,
    ) -> ServerProcess:
        """Start a server on `db_url` (logs under `folder`) and wait until it answers."""
        port = port or free_port()
        folder.mkdir(parents=True, exist_ok=True)
        stderr = folder / f"serve-{port}.err"
        command = [
            sys.executable, "-m", "rlem.cli", "serve", "--db", db_url, "--policy", policy,
            "--port", str(port), "--log-dir", str(folder / "served"), "--backup-dir", str(folder / "backups"),
            *args,
        ]  # fmt: skip
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=stderr.open("w"),
            text=True,
            env=os.environ | (env or {}),
        )
        server = cls(process=process, url=f"http://127.0.0.1:{port}", port=port, stderr=stderr, args=command)
        server.wait_ready("--no-auth" not in args)
        return server

    def wait_ready(self, auth: bool) -> None:
        """Wait for /healthz; read the first admin key if the server printed one."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"rlem serve exited with {self.process.returncode}: {self.log()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            self.kill()
            raise RuntimeError(f"rlem serve did not answer in {START_TIMEOUT_S} s: {self.log()}")
        if auth and self.process.stdout is not None:
            os.set_blocking(self.process.stdout.fileno(), False)
            line = self.process.stdout.readline().strip()
            self.token = line or None

    def log(self) -> str:
        """What the server wrote on stderr."""
        return self.stderr.read_text() if self.stderr.exists() else ""

    def headers(self, token: str | None) -> dict[str, str]:
        """The auth header of `token` (the admin key when None)."""
        token = token if token is not None else self.token
        return {"Authorization": f"Bearer {token}"} if token else {}

    def request(self, method: str, path: str, body: object = None, *, token: str | None = None,
                **kwargs) -> httpx.Response:  # fmt: skip
        """One request; `token` defaults to the admin key."""
        headers = self.headers(token) | kwargs.pop("headers", {})
        return httpx.request(method, self.url + path, json=body, headers=headers, timeout=60, **kwargs)

    def post(self, path: str, body: object = None, **kwargs) -> httpx.Response:
        """POST `body` as JSON."""
        return self.request("POST", path, body, **kwargs)

    def get(self, path: str, **kwargs) -> httpx.Response:
        """GET."""
        return self.request("GET", path, **kwargs)

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, and wait for a graceful exit; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL: the server dies where it stands."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
