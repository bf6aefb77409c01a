"""GGUF files as plain transformers folders, converted once and cached.

transformers reads a GGUF file by parsing its metadata and vocabulary in Python and dequantizing
every tensor: about 40 s for SmolLM2-135M on a 2-core CPU, at every start. The converted folder
(safetensors weights and the tokenizer, the same numbers) loads in under a second.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import logging
import os
import shutil
import tempfile
from pathlib import Path

from rlem.errors import RlemError

log = logging.getLogger(__name__)


def model_cache() -> Path:
    """Where converted models are kept: $RLEM_MODEL_CACHE, else ~/.cache/rlem/models."""
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rlem" / "models"
    return Path(os.environ.get("RLEM_MODEL_CACHE") or default)


def digest(path: Path) -> str:
    """A short content hash: a changed file gets a new folder."""
    hasher = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(chunk)
    return hasher.hexdigest()[:16]


def converted(path: Path) -> Path:
    """The folder holding `path`'s weights (float32) and tokenizer, converted on first use."""
    folder = model_cache() / f"{path.stem}-{digest(path)}"
    if folder.is_dir():
        return folder
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{path.stem}-", dir=folder.parent))
    except OSError as exc:
        raise RlemError(
            f"cannot write the model cache {folder.parent} ({exc.strerror}): "
            "set RLEM_MODEL_CACHE to a writable folder"
        ) from None
    # A warning, so that it shows by default: the first start waits for it, later ones do not.
    log.warning("converting %s once into %s (about a minute; later starts take a second)", path.name, folder)
    # Written aside and renamed into place: a reader never sees half a folder, and of two
    # processes converting at once, the second keeps the first's folder and drops its own.
    try:
        convert(path, staging)
        staging.chmod(0o755)  # mkdtemp's 0700 would hide the folder from other users of the cache
        os.replace(staging, folder)
    except OSError:
        if not folder.is_dir():
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def convert(path: Path, out: Path) -> None:
    """Dequantize a GGUF file into a transformers folder at `out`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # The GGUF converter draws its own tqdm bar on stderr; the CLI shows its own progress instead.
    with contextlib.redirect_stderr(io.StringIO()):
        tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        loaded = AutoModelForCausalLM.from_pretrained(
            str(path.parent), gguf_file=path.name, dtype=torch.float32
        )
    # A model read from GGUF is marked quantized and refuses to be saved: the same weights go into
    # a plain model of the same configuration.
    config = copy.deepcopy(loaded.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(loaded.state_dict())
    plain.generation_config = loaded.generation_config
    plain.save_pretrained(out)
    tokenizer.save_pretrained(out)
