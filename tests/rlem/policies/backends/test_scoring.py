"""Batched, cache-sharing candidate scoring equals scoring each prompt+candidate from scratch."""

from __future__ import annotations

import pytest
import torch

from rlem.policies.backends.scoring import Scorer

# Real models loaded and run: left out of the fast loop.
pytestmark = pytest.mark.slow


def naive(model, prompt: list[int], candidate: list[int]) -> float:
    ids = torch.tensor([prompt + candidate])
    with torch.no_grad():
        logprobs = torch.log_softmax(model(input_ids=ids).logits.float(), dim=-1)
    return sum(float(logprobs[0, len(prompt) + k - 1, t]) for k, t in enumerate(candidate)) / len(candidate)


def check(model, scorer: Scorer, prompts: list[list[int]], candidates: list[list[list[int]]]) -> None:
    batched = scorer.score(prompts, candidates)
    for i, prompt in enumerate(prompts):
        expected = [naive(model, prompt, c) for c in candidates[i]]
        assert batched[i] == pytest.approx(expected, abs=1e-4)


@pytest.fixture
def encode(tiny_lm):
    _, tokenizer = tiny_lm
    return lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize("keep", [32, 0])
def test_batched_scores_match_one_by_one(tiny_lm, encode, keep):
    model, tokenizer = tiny_lm
    prompts = [encode("you stand at the gate . what now ?"), encode("you stand here")]
    candidates = [
        [encode("go north"), encode("open the heavy wooden door"), encode("wait")],
        # Multi-token candidates after the padded, shorter prompt: their positions must continue
        # from its real length, not from the batch's padded width.
        [encode("turn left"), encode("turn right"), encode("open the heavy wooden door")],
    ]
    check(model, Scorer(model, tokenizer.pad_token_id, keep), prompts, candidates)


def test_prompts_beginning_as_earlier_ones_score_as_if_alone(tiny_lm, encode):
    model, tokenizer = tiny_lm
    scorer = Scorer(model, tokenizer.pad_token_id)
    rules = "the rules : walk north to reach the gate , and never enter the river . "
    moves = [encode("go north"), encode("go south"), encode("wait")]
    for batch in (
        [rules + "you stand in the field .", rules + "you stand by the river and the bridge is gone ."],
        # The next step of each episode, and an episode that shares only the rules.
        [rules + "you stand in the field . you went north .", rules + "you see the river ."],
        [rules + "you stand in the field . you went north ."],  # alone, and all of it kept
        ["other rules : swim .", "other rules : fly ."],  # a beginning no earlier prompt had
        ["other rules : swim . you swim .", "other rules : fly .", "lost"],  # three reuse lengths
        [rules + "you see the river . you swim ."],  # begins like a prompt three calls back
    ):
        prompts = [encode(text) for text in batch]
        check(model, scorer, prompts, [moves] * len(prompts))
    _, length = scorer.kept.longest_beginning(encode("other rules : swim . you swim . again"))
    assert length == len(encode("other rules : swim . you swim ."))


def test_only_the_most_recent_prompts_are_kept(tiny_lm, encode):
    model, tokenizer = tiny_lm
    scorer = Scorer(model, tokenizer.pad_token_id, keep=2)
    first, second, third = (encode(f"room {n} : the hall is dark .") for n in ("one", "two", "three"))
    for prompt in (first, second, third):
        scorer.score([prompt], [[encode("go north")]])
    assert scorer.kept.longest_beginning(third) == (0, len(third))
    assert scorer.kept.longest_beginning(second) == (1, len(second))
    assert scorer.kept.longest_beginning(first)[1] < len(encode("room one"))


def test_identical_prompts_keep_a_token_of_their_own(tiny_lm, encode):
    model, tokenizer = tiny_lm
    prompt = encode("the hall is dark .")
    check(model, Scorer(model, tokenizer.pad_token_id), [prompt, prompt], [[encode("go north")]] * 2)


@pytest.mark.model
def test_smollm2_scores_a_short_prompt_alike_alone_and_beside_a_long_one(smollm2):
    # The tiny random model hardly attends by position; SmolLM2 shows a shifted position at once.
    encode = smollm2.encode
    short = encode("The capital of France is")
    long = encode("The fox jumps over the dog many times while the farmer watches and wonders. The answer is")
    options = [smollm2.candidate_ids("is", a) for a in ("Paris", "Berlin", "a nice city by the river")]
    (alone,) = Scorer(smollm2.model, smollm2.pad_id).score([short], [options])
    beside = Scorer(smollm2.model, smollm2.pad_id).score([long, short], [options, options])[1]
    assert beside == pytest.approx(alone, abs=1e-4)


@pytest.mark.model
def test_smollm2_scores_steps_alike_on_kept_rows_and_whole(smollm2):
    # Kept rows of different lengths side by side leave gaps inside each row's cache; SmolLM2
    # would show a gap or a position counted wrong at once.
    encode = smollm2.encode
    first = ["The capital of France is", "Seven days make a week. The fox jumps over the dog. It is"]
    then = [first[1] + " quick. The dog is", first[0] + " Paris. The capital of Spain is", "Snow is"]
    options = [smollm2.candidate_ids("is", a) for a in ("Madrid", "lazy", "white and cold")]
    kept, whole = Scorer(smollm2.model, smollm2.pad_id), Scorer(smollm2.model, smollm2.pad_id, keep=0)
    for texts in (first, then):
        prompts = [encode(t) for t in texts]
        assert kept.score(prompts, [options] * len(prompts)) == [
            pytest.approx(row, abs=1e-4) for row in whole.score(prompts, [options] * len(prompts))
        ]
