"""The GGUF conversion: once per file, into a folder holding the very same weights and tokenizer."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rlem.errors import RlemError
from rlem.policies.backends.gguf import converted
from rlem.policies.backends.hf import packaged_model


@pytest.mark.slow
@pytest.mark.model
def test_the_packaged_gguf_converts_once_to_the_same_weights_and_tokenizer(model_cache: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = packaged_model()
    folder = converted(path)
    written = (folder / "model.safetensors").stat().st_mtime_ns
    assert converted(path) == folder and (folder / "model.safetensors").stat().st_mtime_ns == written
    assert [p.name for p in model_cache.iterdir()] == [folder.name]  # nothing left half-written

    where = {"pretrained_model_name_or_path": str(path.parent), "gguf_file": path.name}
    direct = AutoModelForCausalLM.from_pretrained(**where, dtype=torch.float32).state_dict()
    cached = AutoModelForCausalLM.from_pretrained(str(folder), local_files_only=True).state_dict()
    assert direct.keys() == cached.keys()
    assert all(torch.equal(direct[name], cached[name]) for name in direct)

    original = AutoTokenizer.from_pretrained(**where)
    saved = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    text = "Task: cross the lake.\nThe action that succeeded here: move right"
    assert original(text)["input_ids"] == saved(text)["input_ids"]
    assert (original.eos_token_id, original.pad_token_id) == (saved.eos_token_id, saved.pad_token_id)
    assert original.chat_template == saved.chat_template


def test_an_unwritable_cache_is_a_clear_error(tmp_path: Path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("RLEM_MODEL_CACHE", str(blocker / "models"))
    with pytest.raises(RlemError, match="cannot write the model cache .* set RLEM_MODEL_CACHE"):
        converted(packaged_model())
