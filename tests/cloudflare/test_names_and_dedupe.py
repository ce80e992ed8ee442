"""The Celery -> Cloudflare queue-name rule, and the duplicate-skipping window."""

from __future__ import annotations

import pytest

from cfq_shim.dedupe import CompletedTasks
from cfq_shim.limits import DEFAULT_LIMITS
from cfq_shim.naming import dead_letter_queue_name
from cfq_shim.transport.cloudflare_names import cloudflare_queue_name, is_valid_cloudflare_queue_name


@pytest.mark.parametrize("name", ["celery", "emails", "high-priority", "q1", "celery-dlq"])
def test_names_cloudflare_accepts_are_kept(name):
    assert cloudflare_queue_name(name) == name


@pytest.mark.parametrize("name", ["high.priority", "Emails_v2", "a b", "-x-", "ü", "x" * 80, "__"])
def test_other_names_map_to_valid_distinct_deterministic_names(name):
    mapped = cloudflare_queue_name(name)
    assert is_valid_cloudflare_queue_name(mapped)
    assert len(mapped) <= DEFAULT_LIMITS.max_queue_name_length
    assert mapped == cloudflare_queue_name(name)


def test_names_that_clean_up_alike_stay_apart():
    assert len({cloudflare_queue_name(n) for n in ("a.b", "a_b", "a b", "A.B")}) == 4


def test_prefix_is_part_of_the_name_and_of_the_mapping():
    assert cloudflare_queue_name("celery", prefix="staging-") == "staging-celery"
    assert cloudflare_queue_name("celery", prefix="Staging_").startswith("staging-celery-")
    assert cloudflare_queue_name(dead_letter_queue_name("celery"), prefix="p-") == "p-celery-dlq"


def test_empty_name_is_refused():
    with pytest.raises(ValueError):
        cloudflare_queue_name("")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_completed_task_id_is_a_duplicate_within_the_window_only():
    clock = FakeClock()
    completed = CompletedTasks(window_seconds=60, clock=clock)
    assert not completed.completed_recently("t1")
    completed.record_completed("t1")
    assert completed.completed_recently("t1") and not completed.completed_recently("t2")
    clock.now += 59
    assert completed.completed_recently("t1")
    clock.now += 2
    assert not completed.completed_recently("t1")
    assert len(completed) == 0


def test_memory_is_bounded_oldest_first():
    completed = CompletedTasks(window_seconds=60, max_entries=2, clock=FakeClock())
    for task_id in ("a", "b", "c"):
        completed.record_completed(task_id)
    assert [completed.completed_recently(t) for t in ("a", "b", "c")] == [False, True, True]


def test_recording_again_refreshes_the_entry():
    clock = FakeClock()
    completed = CompletedTasks(window_seconds=10, clock=clock)
    completed.record_completed("a")
    clock.now += 8
    completed.record_completed("a")
    clock.now += 8
    assert completed.completed_recently("a")


def test_a_zero_window_remembers_nothing():
    completed = CompletedTasks(window_seconds=0, clock=FakeClock())
    completed.record_completed("a")
    assert not completed.completed_recently("a")
