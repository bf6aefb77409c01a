"""Exemplar prompts: advice per mode, rendering, templates, and the token budget with a real tokenizer."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from memory_store.records import ActionRecord, ExperienceRecord, Retrieved
from memory_store.vectors.embedder import packaged_model_path
from rlem.agent.exemplars import (
    PATTERN_TEMPLATE_DIR,
    Advice,
    ExemplarConfig,
    HFTokenizer,
    PromptTooLong,
    TemplateError,
    advice,
    build_prompt,
    load_templates,
    render_exemplar,
)

NOW = datetime(2024, 1, 1, tzinfo=UTC)
AVAILABLE = ("look", "open door", "take key", "go north", "go south")


@pytest.fixture(scope="module")
def tokenizer() -> HFTokenizer:
    return HFTokenizer.from_dir(packaged_model_path())


def record(
    qs: dict[str, float],
    *,
    id: int = 1,
    observation: str = "You are in a hallway.",
    history: tuple[str, ...] = (),
    available: tuple[str, ...] = AVAILABLE,
) -> ExperienceRecord:
    actions = tuple(ActionRecord(name, "", q, q, 1) for name, q in qs.items())
    return ExperienceRecord(
        id=id,
        task="find the key",
        observation=observation,
        available_actions=available,
        extra="",
        visits=1,
        last_reward=0.25,
        total_reward=1.5,
        action_history=history,
        created_at=NOW,
        updated_at=NOW,
        actions=actions,
    )


def config(**overrides) -> ExemplarConfig:
    return ExemplarConfig(**{"token_budget": 100_000, **overrides})


def names(entries: tuple[tuple[str, float], ...]) -> list[str]:
    return [name for name, _ in entries]


# Advice


def test_threshold_mixed_encourages_best_and_discourages_non_positive_lowest_first():
    given = advice(record({"look": 0.5, "open door": 0.0, "take key": -0.2, "go north": 0.8}), config())
    assert given == Advice((("go north", 0.8),), (("take key", -0.2), ("open door", 0.0)))


def test_threshold_all_positive_discourages_only_the_lowest():
    given = advice(record({"look": 0.3, "open door": 0.9, "take key": 0.1}), config())
    assert given == Advice((("open door", 0.9),), (("take key", 0.1),))


def test_threshold_none_positive_encourages_best_and_discourages_the_rest():
    given = advice(record({"look": -0.1, "open door": 0.0, "take key": -0.5}), config())
    assert given == Advice((("open door", 0.0),), (("take key", -0.5), ("look", -0.1)))


def test_ties_go_to_the_earliest_recorded_action():
    assert names(advice(record({"look": 0.5, "take key": 0.5}), config()).encouraged) == ["look"]
    tied = advice(record({"take key": 0.5, "look": 0.5}), config())
    assert tied == Advice((("take key", 0.5),), ())


def test_relative_mode_with_step_costs():
    costs = record({"look": -0.3, "open door": -0.1, "take key": -0.9})
    assert advice(costs, config(advice_mode="relative")) == Advice(
        (("open door", -0.1),), (("take key", -0.9),)
    )
    assert names(advice(costs, config()).discouraged) == ["take key", "look"]
    equal = advice(record({"look": -0.2, "take key": -0.2}), config(advice_mode="relative"))
    assert equal == Advice((("look", -0.2),), ())


def test_threshold_is_a_setting():
    qs = record({"look": 0.4, "open door": 0.7, "take key": 0.6})
    assert names(advice(qs, config(threshold=0.5)).discouraged) == ["look"]
    assert names(advice(qs, config(threshold=0.65)).discouraged) == ["look", "take key"]
    assert names(advice(qs, config()).discouraged) == ["look"]


def test_no_actions_means_no_advice():
    assert advice(record({}), config()) == Advice()
    assert advice(record({}), config(advice_mode="relative")) == Advice()


def test_random_encouragement_is_reproducible_and_draws_untried_available_actions():
    none_positive = record({"look": 0.0, "open door": -0.4})
    on = config(random_advice=True)
    first = advice(none_positive, on, np.random.default_rng(7))
    assert first == advice(none_positive, on, np.random.default_rng(7))
    drawn = set()
    for seed in range(60):
        given = advice(none_positive, on, np.random.default_rng(seed))
        ((action, value),) = given.encouraged
        assert 0.0 <= value < 0.5
        assert names(given.discouraged) == ["open door", "look"]
        drawn.add(action)
    assert drawn == {"take key", "go north", "go south"}
    all_tried = record({"look": 0.0, "go north": -0.1}, available=("look", "go north"))
    picks = {names(advice(all_tried, on, np.random.default_rng(s)).encouraged)[0] for s in range(30)}
    assert picks == {"look", "go north"}


def test_random_discouragement_when_all_positive():
    all_positive = record({"look": 0.9, "open door": 0.4})
    on = config(random_advice=True)
    drawn = set()
    for seed in range(60):
        given = advice(all_positive, on, np.random.default_rng(seed))
        assert given.encouraged == (("look", 0.9),)
        ((action, value),) = given.discouraged
        assert value == 0.0
        drawn.add(action)
    assert drawn == set(AVAILABLE) - {"look"}
    assert advice(all_positive, config()).discouraged == (("open door", 0.4),)


def test_random_advice_needs_an_rng_and_threshold_mode():
    with pytest.raises(ValueError, match="rng"):
        advice(record({"look": 0.0}), config(random_advice=True))
    with pytest.raises(ValidationError, match="threshold"):
        config(random_advice=True, advice_mode="relative")


# Rendering


def test_exemplar_shows_the_state_rewards_advice_and_last_five_actions():
    history = tuple(f"step {i}" for i in range(1, 9))
    state = record({"look": 0.5, "take key": 0.8, "open door": -0.25}, history=history)
    text = render_exemplar(state, advice(state, config()), load_templates(), index=3)
    assert "Example 3:" in text
    assert "find the key" in text and "You are in a hallway." in text
    assert "Last reward: 0.25" in text and "Total reward: 1.50" in text
    assert "- step 4\n- step 5\n- step 6\n- step 7\n- step 8" in text
    assert "step 3" not in text
    assert "Encouraged:\ntake key -> 0.80\nDiscouraged:\nopen door -> -0.25" in text
    shorter = render_exemplar(state, Advice(), load_templates(), max_last_actions=2)
    assert "- step 7\n- step 8" in shorter and "step 6" not in shorter
    assert "Encouraged:\n(none)\nDiscouraged:\n(none)" in shorter


def test_tokenizer_counts_without_special_tokens(tokenizer):
    assert tokenizer.count("hello world") == 2
    assert tokenizer.count("") == 0


# Prompts and the token budget


def candidates() -> list[Retrieved]:
    """Five states, most similar first, of very different lengths (the first is the longest)."""
    lengths = [60, 10, 5, 30, 8]
    return [
        Retrieved(
            1.0 - i / 10,
            record(
                {f"act {i}": 1.0, "look": 0.0},
                id=100 + i,
                observation=" ".join(["a dusty corridor"] * length),
                history=("look", "go north"),
            ),
        )
        for i, length in enumerate(lengths)
    ]


def prompt(tokenizer, budget: int, retrieved=None, **overrides):
    return build_prompt(
        "find the key",
        "You see a locked door.",
        AVAILABLE,
        candidates() if retrieved is None else retrieved,
        config(token_budget=budget, **overrides),
        tokenizer,
        last_actions=("look", "go south"),
    )


def test_default_prompt_layout(tokenizer):
    built = prompt(tokenizer, 100_000)
    assert built.exemplar_ids == (100, 101)
    assert built.encouraged == ("act 0", "act 1")
    assert built.tokens == tokenizer.count(built.text)
    text = built.text
    assert text.index("Example 1:") < text.index("Example 2:") < text.index("You see a locked door.")
    assert "- look\n- open door\n- take key\n- go north\n- go south" in text
    assert "Last actions:\n- look\n- go south" in text
    assert text.rstrip().endswith("nothing else.")
    assert prompt(tokenizer, 100_000, k=4).exemplar_ids == (100, 101, 102, 103)


def test_prompts_never_exceed_the_budget_over_a_sweep(tokenizer):
    empty = prompt(tokenizer, 100_000, retrieved=[]).tokens
    full = prompt(tokenizer, 100_000, k=5).tokens
    seen = set()
    for budget in range(empty, full + 20, 7):
        built = prompt(tokenizer, budget, k=3)
        assert built.tokens <= budget
        assert built.tokens == tokenizer.count(built.text)
        assert len(built.exemplar_ids) <= 3
        assert list(built.exemplar_ids) == sorted(built.exemplar_ids)  # similarity order kept
        seen.add(built.exemplar_ids)
    assert () in seen and (100, 101, 102) in seen and len(seen) > 3


def test_exemplars_that_do_not_fit_are_dropped_most_similar_kept_first(tokenizer):
    retrieved = candidates()
    both = prompt(tokenizer, 100_000, retrieved=retrieved[:2]).tokens
    assert prompt(tokenizer, both).exemplar_ids == (100, 101)
    # One token short of the two most similar: the first stays, the next that fits joins it.
    assert prompt(tokenizer, both - 1).exemplar_ids == (100, 102)
    only_first = prompt(tokenizer, 100_000, retrieved=retrieved[:1], k=1).tokens
    assert prompt(tokenizer, only_first).exemplar_ids == (100,)
    # Too small for the longest: it is skipped and the next two most similar are used.
    assert prompt(tokenizer, only_first - 1).exemplar_ids == (101, 102)


def test_too_small_budget_is_a_clear_error(tokenizer):
    empty = prompt(tokenizer, 100_000, retrieved=[]).tokens
    assert prompt(tokenizer, empty).exemplar_ids == ()
    assert "Examples:\n\n(none)" in prompt(tokenizer, empty).text
    with pytest.raises(PromptTooLong) as error:
        prompt(tokenizer, empty - 1)
    message = str(error.value)
    assert "\n" not in message
    assert f"{empty} tokens" in message and f"token budget of {empty - 1}" in message


def test_current_last_actions_are_capped_too(tokenizer):
    built = build_prompt(
        "find the key",
        "You see a locked door.",
        AVAILABLE,
        [],
        config(max_last_actions=1),
        tokenizer,
        last_actions=("look", "go south"),
    )
    assert "Last actions:\n- go south\n" in built.text


# User templates


def write_templates(directory: Path) -> None:
    (directory / "prompt.txt").write_text("MY HEADER\n${exemplars}\n=== NOW ===\n${current}\n")
    (directory / "exemplar.txt").write_text(
        "EX#${index} ${task} | best: ${encouraged} | bad: ${discouraged}\n"
    )
    (directory / "current.txt").write_text("DO ${task} WITH\n${available_actions}\n")


def test_user_templates_from_a_directory_are_used(tokenizer, tmp_path):
    write_templates(tmp_path)
    built = prompt(tokenizer, 100_000, template_dir=tmp_path)
    assert built.text == (
        "MY HEADER\n"
        "EX#1 find the key | best: act 0 -> 1.00 | bad: look -> 0.00\n\n"
        "EX#2 find the key | best: act 1 -> 1.00 | bad: look -> 0.00\n"
        "=== NOW ===\n"
        "DO find the key WITH\n- " + "\n- ".join(AVAILABLE)
    )


def test_one_template_replaced_by_an_explicit_path(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text("SHORT ${index}: ${task}\n")
    templates = load_templates(exemplar=path)
    state = record({"look": 1.0})
    assert render_exemplar(state, Advice(), templates, index=2) == "SHORT 2: find the key"
    assert templates.prompt.template == load_templates().prompt.template


def test_unknown_template_field_is_named(tmp_path):
    write_templates(tmp_path)
    (tmp_path / "current.txt").write_text("${task} ${actions}\n")
    with pytest.raises(TemplateError, match=r"current\.txt: unknown field \$\{actions\}"):
        load_templates(tmp_path)


def test_the_pattern_layout_shows_only_states_where_an_action_worked(tokenizer):
    worked = Retrieved(0.9, record({"take key": 1.0, "look": 0.0}, id=1))
    nothing_worked = Retrieved(0.95, record({"look": 0.0, "go north": -0.5}, id=2))
    pattern = load_templates(PATTERN_TEMPLATE_DIR)
    assert pattern.shows_only_successes and not load_templates().shows_only_successes
    built = build_prompt(
        "find the key", "You see a locked door.", AVAILABLE, [nothing_worked, worked],
        config(k=2), tokenizer, pattern,
    )  # fmt: skip
    assert built.exemplar_ids == (1,)
    assert "succeeded here: take key" in built.text and built.text.count("succeeded here:") == 2
    # The paper's layout shows both: its values and warnings say what did not work.
    built = build_prompt(
        "find the key", "You see a locked door.", AVAILABLE, [nothing_worked, worked], config(k=2), tokenizer
    )
    assert built.exemplar_ids == (2, 1)
