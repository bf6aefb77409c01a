"""A second real embedding model for re-embedding tests, made offline from the packaged MiniLM."""

from __future__ import annotations

from pathlib import Path

from memory_store.vectors.embedder import packaged_model_path

DENSE_DIM = 128


def build_dense_model(path: Path) -> Path:
    """A second real embedding model, made offline: MiniLM with a fixed random 384->128 Dense layer."""
    import torch
    from sentence_transformers import SentenceTransformer, models

    torch.manual_seed(0)
    base = SentenceTransformer(str(packaged_model_path()), device="cpu", local_files_only=True)
    transformer, pooling = base[0], base[1]
    dense = models.Dense(384, DENSE_DIM, activation_function=torch.nn.Identity())
    SentenceTransformer(modules=[transformer, pooling, dense, models.Normalize()], device="cpu").save(
        str(path)
    )
    return path
