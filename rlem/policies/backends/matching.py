"""Turning a model's free-text answer into one admissible action, or admitting that it names none.

Whatever the answer says, the result is an element of the admissible list or None: exact match
first, then after normalising case, quotes and spacing, then the closest action by edit distance
if it is similar enough.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# Edit-distance similarity needed to accept the closest action.
DEFAULT_THRESHOLD = 0.8
# Long answers are compared by their first characters only: actions are short.
COMPARE_CHARS = 200
LABEL = re.compile(r"^\s*(?:next\s+)?action\s*[:=-]\s*", re.IGNORECASE)
REASON = re.compile(r"^\s*reason\s*[:=-]\s*", re.IGNORECASE)


@dataclass(frozen=True)
class Parsed:
    """An answer split into its candidate action lines and a reason."""

    candidates: tuple[str, ...]
    reason: str


def normalise(text: str) -> str:
    """Lower case, outer quotes, brackets and punctuation removed, inner spacing collapsed."""
    text = re.sub(r"\s+", " ", text.strip().lower())
    return text.strip(" \"'`*.,;:!?()[]<>")


def parse_answer(answer: str) -> Parsed:
    """Candidate action texts, most likely first (a labelled `Action:` line wins), and the reason."""
    lines = [line.strip() for line in answer.strip().splitlines() if line.strip()]
    labelled = [LABEL.sub("", line) for line in lines if LABEL.match(line)]
    reasons = [REASON.sub("", line) for line in lines if REASON.match(line)]
    plain = [line for line in lines if not LABEL.match(line) and not REASON.match(line)]
    reason = reasons[0] if reasons else " ".join(plain[1:] if not labelled else plain)
    return Parsed(tuple(labelled + plain), reason.strip())


def similarity(a: str, b: str) -> float:
    """1 - Levenshtein distance / length of the longer string (1.0 for equal strings)."""
    a, b = a[:COMPARE_CHARS], b[:COMPARE_CHARS]
    if a == b:
        return 1.0
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return 1.0 - previous[-1] / max(len(a), len(b))


def match_action(answer: str, admissible: Sequence[str], threshold: float = DEFAULT_THRESHOLD) -> str | None:
    """The admissible action the answer names, or None if it names none closely enough."""
    if not admissible:
        return None
    candidates = parse_answer(answer).candidates
    for candidate in candidates:
        if candidate in admissible:
            return candidate
    by_normal = {normalise(action): action for action in reversed(admissible)}
    for candidate in candidates:
        if normalise(candidate) in by_normal:
            return by_normal[normalise(candidate)]
    best, score = None, 0.0
    for candidate in candidates:
        for action in admissible:
            value = similarity(normalise(candidate), normalise(action))
            if value > score:
                best, score = action, value
    return best if score >= threshold else None
