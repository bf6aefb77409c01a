"""Double Q-learning: retrieval merges the two tables."""

from __future__ import annotations

from datetime import UTC, datetime

from memory_store import ActionRecord, ExperienceRecord, Retrieved
from memory_store.names import second_table
from rlem.learning.double_q import merge_retrieved

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def hit(similarity: float, observation: str, *actions: ActionRecord, visits: int = 1) -> Retrieved:
    record = ExperienceRecord(1, "task", observation, (), "", visits, 0.0, 0.0, (), NOW, NOW, actions)
    return Retrieved(similarity, record)


def test_states_in_both_tables_merge_their_action_values():
    first = [
        hit(0.9, "hall", ActionRecord("go", "because", 1.0, 1.0, 2), ActionRecord("wait", "", 0.0, 0.0, 1))
    ]
    second = [
        hit(
            0.9, "hall", ActionRecord("go", "", 0.0, 0.5, 1), ActionRecord("look", "", 0.4, 0.0, 1), visits=3
        ),
        hit(0.5, "yard", ActionRecord("go", "", 0.2, 0.0, 1)),
    ]
    merged = merge_retrieved(first, second, k=5)
    assert [m.experience.observation for m in merged] == ["hall", "yard"]
    hall = merged[0].experience
    assert hall.visits == 4
    assert hall.action("go") == ActionRecord("go", "because", 0.5, 0.75, 3)
    assert hall.action("wait").q == 0.0 and hall.action("look").q == 0.4
    assert len(merge_retrieved(first, second, k=1)) == 1


def test_the_second_table_has_its_own_namespace():
    assert second_table("frozenlake") != "frozenlake"
