"""The packaged MiniLM embedder, loaded offline from its wheel."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from memory_store.errors import InvalidArgument
from memory_store.vectors.embedder import SentenceTransformerEmbedder, packaged_model_path, state_text


def test_embeddings_are_unit_float32_rows_of_384(embedder):
    vectors = embedder.embed(["a red apple", "quantum chromodynamics", ""])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.linalg.norm(vectors, axis=1) == pytest.approx(np.ones(3), abs=1e-5)
    assert embedder.embed([]).shape == (0, 384)


def test_similar_texts_are_closer_than_unrelated_ones(embedder):
    apple, apple_too, physics = embedder.embed(
        [
            state_text("Eat.", "A red apple."),
            state_text("Eat.", "An apple, red."),
            state_text("Eat.", "Quarks."),
        ]
    )
    assert apple @ apple_too > apple @ physics + 0.2


def test_the_dimension_is_known_without_loading_the_model():
    lazy = SentenceTransformerEmbedder(packaged_model_path(), name="probe")
    assert (lazy.model_name, lazy.dim) == ("probe", 384)
    assert not lazy.loaded


def test_state_text_names_task_and_observation():
    assert state_text("Open the chest.", "A chest.") == "Task: Open the chest.\nObservation: A chest."


def test_a_directory_without_a_model_is_refused(tmp_path):
    with pytest.raises(InvalidArgument, match="is not a sentence-transformers model directory"):
        SentenceTransformerEmbedder(tmp_path)


def test_state_text_can_hold_the_observation_alone():
    assert state_text("Open the chest.", "A chest.", "observation") == "A chest."


def test_cached_vectors_equal_fresh_ones_and_the_cache_stays_bounded():
    small = SentenceTransformerEmbedder(packaged_model_path(), cache_size=3)
    texts = ["one", "two", "three", "four", "two"]
    cached = small.embed(texts)
    fresh = SentenceTransformerEmbedder(packaged_model_path(), cache_size=0).embed(texts)
    assert cached == pytest.approx(fresh, abs=1e-6)
    assert list(small.cache) == ["three", "four", "two"]
    again = small.embed(["two", "two"])
    assert again == pytest.approx(fresh[[1, 1]], abs=1e-6)


def test_a_copy_of_the_packaged_model_is_the_packaged_model_whatever_its_folder(tmp_path):
    # `--model DIR` records the model; a folder merely named `model` must not make it another one.
    copy = tmp_path / "model"
    shutil.copytree(packaged_model_path(), copy)
    assert SentenceTransformerEmbedder(copy).model_name == "all-MiniLM-L6-v2"
    (copy / "vocab.txt").write_text("changed\n")
    changed = SentenceTransformerEmbedder(copy).model_name
    assert changed.startswith("model@") and changed != "model"
