"""Dynamic exemplars: retrieved experiences shown with action advice, fitted into a token budget.

Follows REMEMBERER (arXiv 2306.07929): the k most similar stored states become examples in the
prompt, each advising its highest-valued action and warning against its low-valued ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any, Literal, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from memory_store.records import ActionRecord, ExperienceRecord, Retrieved
from rlem.errors import RlemError

AdviceMode = Literal["threshold", "relative"]
Entry = tuple[str, float]  # an advised action and its (estimated) value

DEFAULT_TEMPLATE_DIR = Path(__file__).with_name("templates")
# Exemplars written as a completed pattern that the current input leaves open: small models copy it.
PATTERN_TEMPLATE_DIR = DEFAULT_TEMPLATE_DIR / "pattern"

# The fields each template may use; anything else is a typo that would otherwise surface mid-episode.
TEMPLATE_FIELDS: dict[str, frozenset[str]] = {
    "prompt": frozenset({"exemplars", "current"}),
    "exemplar": frozenset(
        {
            "index",
            "task",
            "observation",
            "last_actions",
            "last_reward",
            "total_reward",
            "encouraged",
            "discouraged",
            "best_action",
        }
    ),
    "current": frozenset({"task", "observation", "last_actions", "available_actions"}),
}

EMPTY = "(none)"


class ExemplarConfig(BaseModel):
    """How many exemplars to show, how their advice is chosen, and the prompt's token budget."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    k: int = Field(default=2, ge=0)
    advice_mode: AdviceMode = "threshold"
    threshold: float = Field(default=0.0, allow_inf_nan=False)
    random_advice: bool = False
    max_last_actions: int = Field(default=5, ge=0)
    token_budget: int = Field(gt=0)
    template_dir: Path | None = None

    @model_validator(mode="after")
    def random_advice_needs_threshold(self) -> ExemplarConfig:
        """Reject random advice outside threshold mode, the only mode where the paper defines it."""
        if self.random_advice and self.advice_mode != "threshold":
            raise ValueError("random_advice follows the paper's threshold rule; use advice_mode='threshold'")
        return self


@dataclass(frozen=True)
class Advice:
    """Actions an exemplar encourages and discourages, each with its (estimated) value."""

    encouraged: tuple[Entry, ...] = ()
    discouraged: tuple[Entry, ...] = ()


@dataclass(frozen=True)
class Templates:
    """The prompt, exemplar and current-input templates (`string.Template` syntax: `${field}`)."""

    prompt: Template
    exemplar: Template
    current: Template

    @property
    def shows_only_successes(self) -> bool:
        """True when the exemplar names the best action but no values or warnings (the pattern
        layout): it then reads as the action that worked, so states where none did are left out."""
        fields = set(self.exemplar.get_identifiers())
        return "best_action" in fields and not fields & {"encouraged", "discouraged"}


@dataclass(frozen=True)
class Prompt:
    """A built prompt, the ids of the states shown as exemplars, their encouraged actions, its size."""

    text: str
    exemplar_ids: tuple[int, ...]
    encouraged: tuple[str, ...]
    tokens: int


class TemplateError(RlemError):
    """A template file uses an unknown field or malformed placeholder."""


class PromptTooLong(RlemError):
    """Even the prompt without exemplars exceeds the token budget."""


class Tokenizer(Protocol):
    """Counts tokens as the policy model's tokenizer does."""

    def count(self, text: str) -> int:
        """The number of tokens in `text`, without special tokens."""
        ...


class HFTokenizer:
    """A Tokenizer over any Hugging Face tokenizer object."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    @classmethod
    def from_dir(cls, path: str | Path) -> HFTokenizer:
        """Load a tokenizer from a local directory with AutoTokenizer; never downloads."""
        # Imported here: transformers takes seconds to import and only this constructor needs it.
        from transformers import AutoTokenizer

        return cls(AutoTokenizer.from_pretrained(str(path), local_files_only=True))

    def count(self, text: str) -> int:
        """The number of tokens in `text`, without special tokens."""
        # verbose=False: a prompt longer than the tokenizer's own model length is fine for counting.
        return len(self.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])


def read_template(path: Path, fields: frozenset[str]) -> Template:
    """A template file (its trailing newlines dropped), checked to use only `fields`."""
    template = Template(path.read_text(encoding="utf-8").rstrip("\n"))
    try:
        template.substitute(dict.fromkeys(fields, ""))
    except KeyError as exc:
        allowed = ", ".join(sorted(fields))
        raise TemplateError(f"{path}: unknown field ${{{exc.args[0]}}} (allowed: {allowed})") from None
    except ValueError as exc:
        raise TemplateError(f"{path}: {exc}") from None
    return template


def load_templates(
    directory: Path | None = None,
    *,
    prompt: Path | None = None,
    exemplar: Path | None = None,
    current: Path | None = None,
) -> Templates:
    """Templates from explicit paths, else `directory`/{prompt,exemplar,current}.txt, else the defaults."""
    explicit = {"prompt": prompt, "exemplar": exemplar, "current": current}
    base = directory or DEFAULT_TEMPLATE_DIR
    loaded = {
        name: read_template(explicit[name] or base / f"{name}.txt", fields)
        for name, fields in TEMPLATE_FIELDS.items()
    }
    return Templates(**loaded)


def pair(action: ActionRecord) -> Entry:
    """An action record as an advice entry."""
    return action.action, action.q


def worse_than_best(record: ExperienceRecord, best: ActionRecord) -> tuple[Entry, ...]:
    """The lowest-valued action (earliest on ties), unless it is no worse than the best."""
    worst = min(record.actions, key=lambda a: a.q)
    return (pair(worst),) if worst.q < best.q else ()


def random_encouraged(record: ExperienceRecord, rng: np.random.Generator) -> Entry | None:
    """The paper's made-up encouragement: an untried available action (any if all were tried)."""
    tried = {a.action for a in record.actions}
    pool = [a for a in record.available_actions if a not in tried] or list(record.available_actions)
    if not pool:
        return None
    return pool[int(rng.integers(len(pool)))], float(rng.random() / 2)


def random_discouraged(
    record: ExperienceRecord, encouraged: set[str], rng: np.random.Generator
) -> Entry | None:
    """The paper's made-up discouragement: an available action other than the encouraged one, at 0."""
    pool = [a for a in record.available_actions if a not in encouraged]
    if not pool:
        return None
    return pool[int(rng.integers(len(pool)))], 0.0


def advice(
    record: ExperienceRecord, config: ExemplarConfig, rng: np.random.Generator | None = None
) -> Advice:
    """The advice an exemplar of `record` shows; `rng` is required when `config.random_advice` is on.

    Both modes encourage the best action (earliest on ties) and never discourage an encouraged one.
    """
    draws = rng if config.random_advice else None
    if config.random_advice and draws is None:
        raise ValueError("random_advice needs a numpy Generator (rng) to draw from")
    best = record.best_action()
    if config.advice_mode == "relative":
        return Advice((pair(best),), worse_than_best(record, best)) if best else Advice()

    drawn = None
    if draws is not None and (best is None or best.q <= config.threshold):
        drawn = random_encouraged(record, draws)
    if drawn is not None:
        encouraged: tuple[Entry, ...] = (drawn,)
    else:
        encouraged = (pair(best),) if best else ()
    names = {name for name, _ in encouraged}
    low = [a for a in sorted(record.actions, key=lambda a: a.q) if a.q <= config.threshold]
    if low or best is None:
        discouraged = tuple(pair(a) for a in low if a.action not in names)
    else:
        made_up = random_discouraged(record, names, draws) if draws is not None else None
        discouraged = (made_up,) if made_up else worse_than_best(record, best)
    return Advice(encouraged, discouraged)


def tail(items: Sequence[str], n: int) -> Sequence[str]:
    """The last `n` items (none when n is 0)."""
    return items[max(len(items) - n, 0) :]


def bullets(items: Sequence[str]) -> str:
    """One `- item` line per item."""
    return "\n".join(f"- {item}" for item in items) or EMPTY


def valued(entries: Sequence[Entry]) -> str:
    """One `action -> value` line per advice entry."""
    return "\n".join(f"{action} -> {q:.2f}" for action, q in entries) or EMPTY


def render_exemplar(
    record: ExperienceRecord,
    advice: Advice,
    templates: Templates,
    *,
    index: int = 1,
    max_last_actions: int = 5,
) -> str:
    """One exemplar, numbered `index`, with the last `max_last_actions` actions before the state."""
    return templates.exemplar.substitute(
        index=index,
        task=record.task,
        observation=record.observation,
        last_actions=bullets(tail(record.action_history, max_last_actions)),
        last_reward=f"{record.last_reward:.2f}",
        total_reward=f"{record.total_reward:.2f}",
        encouraged=valued(advice.encouraged),
        best_action=advice.encouraged[0][0] if advice.encouraged else EMPTY,
        discouraged=valued(advice.discouraged),
    )


def build_prompt(
    task: str,
    observation: str,
    available_actions: Sequence[str],
    retrieved: Sequence[Retrieved],
    config: ExemplarConfig,
    tokenizer: Tokenizer,
    templates: Templates | None = None,
    rng: np.random.Generator | None = None,
    *,
    last_actions: Sequence[str] = (),
) -> Prompt:
    """The prompt for the next action, with up to `config.k` exemplars within `config.token_budget`.

    Candidates are tried most similar first and each is kept if the whole prompt still fits.
    With a template that shows only successes, states whose best action is not above the
    threshold are skipped.
    """
    templates = templates or load_templates(config.template_dir)
    current = templates.current.substitute(
        task=task,
        observation=observation,
        last_actions=bullets(tail(last_actions, config.max_last_actions)),
        available_actions=bullets(available_actions),
    )

    def assemble(exemplars: Sequence[str]) -> str:
        return templates.prompt.substitute(exemplars="\n\n".join(exemplars) or EMPTY, current=current)

    text = assemble(())
    tokens = tokenizer.count(text)
    if tokens > config.token_budget:
        raise PromptTooLong(
            f"the prompt without exemplars is {tokens} tokens, over the token budget of {config.token_budget}"
        )
    only_successes = templates.shows_only_successes
    shown: list[str] = []
    ids: list[int] = []
    encouraged: list[str] = []
    for candidate in retrieved:
        if len(shown) >= config.k:
            break
        record = candidate.experience
        given = advice(record, config, rng)
        worked = bool(given.encouraged) and given.encouraged[0][1] > config.threshold
        if only_successes and not worked:
            continue
        exemplar = render_exemplar(
            record, given, templates, index=len(shown) + 1, max_last_actions=config.max_last_actions
        )
        trial = assemble([*shown, exemplar])
        trial_tokens = tokenizer.count(trial)
        if trial_tokens <= config.token_budget:
            text, tokens = trial, trial_tokens
            shown.append(exemplar)
            ids.append(record.id)
            encouraged.extend(name for name, _ in given.encouraged)
    return Prompt(text, tuple(ids), tuple(encouraged), tokens)
