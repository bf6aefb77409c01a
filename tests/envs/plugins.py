"""A package of environment factories outside the project, as the `plugins` fixture makes it."""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Plugins:
    """A package outside the project on sys.path, holding tests/envs/plugin_factories.py as its
    `factories` module; `register` adds a distribution with `rlem.envs` entry points beside it."""

    root: Path
    package: str
    distribution: str

    @property
    def module(self) -> str:
        """The factories' module name."""
        return f"{self.package}.factories"

    def spec(self, factory: str, *arguments: str) -> str:
        """The spec `package.factories:factory[:argument...]`."""
        return ":".join([self.module, factory, *arguments])

    def register(self, entry_points: dict[str, str]) -> None:
        """Install the distribution with these entry points (name: `module:attribute`)."""
        info = self.root / f"{self.distribution.replace('-', '_')}-0.1.dist-info"
        info.mkdir(exist_ok=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {self.distribution}\nVersion: 0.1\n")
        lines = "".join(f"{name} = {value}\n" for name, value in entry_points.items())
        (info / "entry_points.txt").write_text("[rlem.envs]\n" + lines)
        importlib.invalidate_caches()

    def environ(self) -> dict[str, str]:
        """The environment of a subprocess that finds the package (on PYTHONPATH, first)."""
        path = os.pathsep.join(filter(None, [str(self.root), os.environ.get("PYTHONPATH")]))
        return {**os.environ, "PYTHONPATH": path}
