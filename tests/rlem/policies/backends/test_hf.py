"""The transformers policy: a tiny random model for the batching, scoring and parsing paths, and the
real packaged SmolLM2 end to end."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from memory_store import ActionRecord, ExperienceRecord, Retrieved
from rlem.agent.exemplars import ExemplarConfig, HFTokenizer, build_prompt, load_templates
from rlem.policies.backends.hf import HFConfig, HFPolicy, value_bonus
from rlem.policies.base import Situation, check_policy, followed_advice
from rlem.policies.values import action_values

# Real models loaded and run: left out of the fast loop.
pytestmark = pytest.mark.slow

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ACTIONS = ("go north", "go south", "open the door", "wait")


def retrieved(*values: tuple[str, float]) -> Retrieved:
    actions = tuple(ActionRecord(a, "", q, 0.0, 1) for a, q in values)
    record = ExperienceRecord(
        7, "Leave the house.", "You are in the hall.", ACTIONS, "", 1, 0.0, 0.0, (), NOW, NOW, actions
    )
    return Retrieved(0.95, record)


def situation(prompt: str, *hits: Retrieved) -> Situation:
    """The hall, where `hits` are stored states that read as this very situation."""
    values = action_values([hit.experience for hit in hits], hits)
    return Situation(
        "Leave the house.", "You are in the hall.", ACTIONS, retrieved=hits, prompt=prompt, values=values
    )


def test_value_bonus_is_min_max_normalised_pooled_q_and_optimistic_about_the_untried():
    hits = (retrieved(("go north", 2.0), ("go south", -2.0)), retrieved(("go north", 9.0), ("wait", 0.0)))
    # Pooled (one visit each): north 5.5, south -2, wait 0; the door is untried.
    assert value_bonus(situation("p", *hits)) == pytest.approx([1.0, 0.0, 1.0, 2 / 7.5])
    assert value_bonus(situation("p")) is None


def test_value_bonus_of_tied_known_actions_is_neutral_only_when_all_are_known():
    zeros = retrieved(("go north", 0.0), ("go south", 0.0))
    assert value_bonus(situation("p", zeros)) == [0.0, 0.0, 1.0, 1.0]
    every = retrieved(*((a, 0.0) for a in ACTIONS))
    assert value_bonus(situation("p", every)) == [0.5] * 4


def test_while_training_the_less_visited_actions_get_more_bonus():
    tried = Retrieved(
        0.9,
        ExperienceRecord(
            8, "Leave the house.", "You are in the hall.", ACTIONS, "", 1, 0.0, 0.0, (), NOW, NOW,
            (ActionRecord("go north", "", 0.0, 0.0, 8), ActionRecord("go south", "", 0.0, 0.0, 3)),
        ),
    )  # fmt: skip
    s = situation("p", tried)
    # North tried 8 times, south 3, the rest never: 1/sqrt(1+n) on top of the values.
    assert value_bonus(s) == [0.0, 0.0, 1.0, 1.0]
    assert value_bonus(s, training=True) == pytest.approx([1 / 3, 0.5, 2.0, 2.0])


def test_score_mode_batches_prompts_and_matches_scoring_them_alone(tiny_lm):
    model, tokenizer = tiny_lm
    policy = HFPolicy(HFConfig(decide="score", chat=False), model, tokenizer)
    batch = [
        situation("the hall is dark ."),
        situation("a draught comes from the north , and the door creaks"),
    ]
    together = check_policy(policy, batch)
    alone = [check_policy(policy, [s])[0] for s in batch]
    assert [d.action for d in together] == [d.action for d in alone]
    assert all(d.prompt_tokens > 0 and not d.fell_back for d in together)


def test_guided_mode_follows_the_memory_when_beta_dominates(tiny_lm):
    model, tokenizer = tiny_lm
    hits = (retrieved(("open the door", 5.0), ("go north", -1.0), ("go south", 0.0), ("wait", 0.0)),)
    s = situation("the hall is dark .", *hits)
    steered = HFPolicy(HFConfig(decide="guided", beta=1000.0, chat=False), model, tokenizer)
    assert check_policy(steered, [s])[0].action == "open the door"
    plain = HFPolicy(HFConfig(decide="score", chat=False), model, tokenizer)
    unsteered = HFPolicy(HFConfig(decide="guided", beta=0.0, chat=False), model, tokenizer)
    assert check_policy(unsteered, [s])[0].action == check_policy(plain, [s])[0].action


def test_training_draws_from_the_softmax_and_evaluation_takes_the_best(tiny_lm):
    model, tokenizer = tiny_lm
    s = situation("the hall is dark .")
    best = check_policy(HFPolicy(HFConfig(decide="score", chat=False), model, tokenizer), [s])[0].action
    sampling = HFPolicy(HFConfig(decide="score", chat=False, temperature=1.0, seed=3), model, tokenizer)
    assert {d.action for d in check_policy(sampling, [s] * 8, training=False)} == {best}
    # A tiny random model's scores are close: at temperature 1 every action gets drawn.
    assert {d.action for d in check_policy(sampling, [s] * 64, training=True)} == set(ACTIONS)
    greedy = HFPolicy(HFConfig(decide="score", chat=False, temperature=0.0), model, tokenizer)
    assert {d.action for d in check_policy(greedy, [s] * 8, training=True)} == {best}


def test_generate_mode_retries_then_falls_back_to_the_memory(tiny_lm):
    model, tokenizer = tiny_lm
    policy = HFPolicy(HFConfig(decide="generate", chat=False, max_new_tokens=6, seed=0), model, tokenizer)
    hits = (retrieved(("go north", 0.2), ("go south", 0.9), ("open the door", 0.1), ("wait", 0.0)),)
    (decision,) = check_policy(policy, [situation("the hall is dark .", *hits)])
    # Random weights write word-piece noise: no admissible action, so retry, then memory-greedy.
    assert (decision.parsed, decision.retried, decision.fell_back) == (False, True, True)
    assert decision.action == "go south"
    assert decision.generated_tokens > 0


@pytest.mark.model
@pytest.mark.parametrize("mode", ["score", "generate"])
def test_smollm2_end_to_end_chooses_an_admissible_action(smollm2, mode, capsys):
    tokenizer = HFTokenizer(smollm2.tokenizer)
    hit = retrieved(("open the door", 1.0), ("go north", 0.0))
    prompt = build_prompt(
        "Leave the house.",
        "You are in the hall. The front door is closed.",
        ACTIONS,
        [hit],
        ExemplarConfig(token_budget=1024),
        tokenizer,
        load_templates(smollm2.templates),
    )
    s = Situation(
        "Leave the house.",
        "You are in the hall.",
        ACTIONS,
        (hit,),
        prompt=prompt.text,
        encouraged=prompt.encouraged,
    )
    policy = HFPolicy(smollm2.config.model_copy(update={"decide": mode}), smollm2.model, smollm2.tokenizer)
    (decision,) = check_policy(policy, [s])
    with capsys.disabled():
        followed = followed_advice(s.encouraged, decision)
        print(f"\nSmolLM2 {mode}: chose {decision.action!r}, followed advice: {followed}")


@pytest.mark.model
def test_small_models_default_to_the_pattern_layout_without_chat_format(smollm2, tiny_lm):
    from rlem.agent.exemplars import PATTERN_TEMPLATE_DIR

    assert (smollm2.chat, smollm2.templates) == (False, PATTERN_TEMPLATE_DIR)
    forced = HFPolicy(HFConfig(chat=True), smollm2.model, smollm2.tokenizer)
    assert forced.chat is True
    model, tokenizer = tiny_lm
    assert HFPolicy(HFConfig(chat=True), model, tokenizer).chat is False  # no chat template to use
