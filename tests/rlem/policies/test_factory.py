"""Building policies from a backend name and its settings."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from rlem.policies.backends.baselines import MemoryGreedyPolicy, RandomPolicy
from rlem.policies.backends.openai_compat import OpenAIPolicy
from rlem.policies.factory import PolicySpec, make_policy


def test_each_backend_gets_its_own_validated_settings():
    assert isinstance(make_policy(PolicySpec(backend="random", settings={"seed": 1})), RandomPolicy)
    greedy = make_policy(PolicySpec(backend="memory-greedy", settings={"seed": 3}))
    assert isinstance(greedy, MemoryGreedyPolicy)
    served = make_policy(
        PolicySpec(backend="openai", settings={"model": "m", "base_url": "http://127.0.0.1:1/v1"})
    )
    assert isinstance(served, OpenAIPolicy)
    served.close()


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (PolicySpec(backend="memory-greedy", settings={"seed": "x"}), "seed"),
        (PolicySpec(backend="openai", settings={"modle": "typo"}), "model"),
        (PolicySpec(backend="hf", settings={"decide": "vote"}), "decide"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(spec, field):
    with pytest.raises(ValidationError, match=field):
        make_policy(spec)
