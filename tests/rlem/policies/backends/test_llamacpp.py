"""The in-process llama.cpp policy on the packaged SmolLM2 GGUF."""

from __future__ import annotations

import pytest

from rlem.policies.backends.llamacpp import LlamaCppConfig, LlamaCppPolicy
from rlem.policies.base import Situation, check_policy
from tests.envs.availability import requires

# Real models loaded and run: left out of the fast loop.
pytestmark = [pytest.mark.slow, pytest.mark.model, requires("llama_cpp")]

ACTIONS = ("go out", "go to bed", "wait")
PROMPT = "Task: Leave the house.\nObservation: The front door is open.\nThe action that succeeded here:"


@pytest.fixture(scope="module")
def llamacpp():
    policy = LlamaCppPolicy(LlamaCppConfig(context=1024, seed=0))
    yield policy
    policy.close()


def test_score_ranks_the_admissible_actions(llamacpp):
    s = Situation("Leave the house.", "The front door is open.", ACTIONS, prompt=PROMPT)
    (decision,) = check_policy(llamacpp, [s])
    assert decision.prompt_tokens > 0 and decision.reason.startswith("log-likelihood")


def test_scores_match_the_transformers_backend_on_the_same_weights(llamacpp, smollm2):
    native, _ = llamacpp.action_logprobs(PROMPT, ACTIONS)
    assert not smollm2.chat
    candidates = [[smollm2.candidate_ids(PROMPT, a) for a in ACTIONS]]
    (reference,) = smollm2.scorer.score([smollm2.encode(PROMPT)], candidates)
    # Same Q4_1 weights; llama.cpp computes in quantised kernels, transformers in dequantised float32.
    assert native == pytest.approx(reference, abs=0.25)


def test_generate_mode_chooses_an_admissible_action(llamacpp):
    policy = LlamaCppPolicy.__new__(LlamaCppPolicy)
    policy.__dict__.update(llamacpp.__dict__)
    policy.config = llamacpp.config.model_copy(update={"decide": "generate"})
    s = Situation("Leave the house.", "The front door is open.", ACTIONS, prompt=PROMPT)
    check_policy(policy, [s])
