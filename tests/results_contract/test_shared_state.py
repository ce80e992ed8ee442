"""Contract: the shared-state primitives (chord sets and claims, revoked ids, heartbeats, lease locks)."""

from __future__ import annotations

import threading

from cfq_shim.results.base import ResultBackend


def _in_threads(count: int, work) -> list:
    results: list = [None] * count
    barrier = threading.Barrier(count)

    def run(index: int) -> None:
        barrier.wait()
        results[index] = work(index)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


# -- chord counting -------------------------------------------------------------------------------------
def test_add_to_set_counts_distinct_members(backend: ResultBackend) -> None:
    assert backend.add_to_set("g", "a") == 1
    assert backend.add_to_set("g", "b") == 2
    assert backend.add_to_set("g", "a") == 2  # a header task delivered twice counts once
    assert backend.add_to_set("other", "a") == 1


def test_add_to_set_is_atomic_under_concurrency(backend: ResultBackend) -> None:
    counts = _in_threads(8, lambda i: backend.add_to_set("g", f"m{i}"))
    # Every caller sees its own member counted; the last to commit sees all eight.
    assert max(counts) == 8 and all(1 <= count <= 8 for count in counts)
    assert backend.add_to_set("g", "m0") == 8


def test_set_expires(backend: ResultBackend, clock) -> None:
    backend.add_to_set("g", "a", expires_seconds=1)
    clock.advance(1.5)
    assert backend.add_to_set("g", "b", expires_seconds=1) == 1


def test_discard_set(backend: ResultBackend) -> None:
    backend.add_to_set("g", "a")
    backend.discard_set("g")
    assert backend.add_to_set("g", "b") == 1


def test_claim_once_has_one_winner_among_racers(backend: ResultBackend) -> None:
    wins = _in_threads(8, lambda i: backend.claim_once("chord-g", f"owner{i}"))
    assert wins.count(True) == 1


def test_the_owner_may_claim_again_until_it_completes(backend: ResultBackend) -> None:
    assert backend.claim_once("k", "a")
    assert not backend.claim_once("k", "b")
    assert backend.claim_once("k", "a")  # redelivered after a crash before completing
    assert backend.complete_claim("k", "a")
    assert not backend.claim_once("k", "a")
    assert not backend.claim_once("k", "b")
    assert not backend.complete_claim("k", "b")


# -- revoked ids ----------------------------------------------------------------------------------------
def test_revoked_ids_with_expiry(backend: ResultBackend, clock) -> None:
    backend.revoke(["a", "b"], expires_seconds=1)
    backend.revoke(["c"], expires_seconds=3600)
    assert backend.is_revoked("a") and not backend.is_revoked("z")
    assert backend.revoked_ids() == {"a", "b", "c"}
    clock.advance(1.5)
    assert not backend.is_revoked("a")
    assert backend.revoked_ids() == {"c"}


def test_revoked_ids_do_not_mix_with_other_keys(backend: ResultBackend) -> None:
    backend.store_meta("a", {"status": "SUCCESS"})
    backend.heartbeat("w1", {})
    assert backend.revoked_ids() == set()


# -- heartbeats -----------------------------------------------------------------------------------------
def test_heartbeats_fresh_since(backend: ResultBackend, clock) -> None:
    backend.heartbeat("old@host", {"pid": 1})
    clock.advance(1.5)
    backend.heartbeat("new@host", {"pid": 2, "active": ["t1"]})
    everyone = backend.heartbeats()
    assert set(everyone) == {"old@host", "new@host"}
    fresh = backend.heartbeats(fresh_within_seconds=1)
    assert set(fresh) == {"new@host"}
    assert fresh["new@host"].info == {"pid": 2, "active": ["t1"]}
    assert fresh["new@host"].timestamp >= everyone["old@host"].timestamp


def test_a_new_heartbeat_replaces_the_last(backend: ResultBackend) -> None:
    backend.heartbeat("w", {"n": 1})
    backend.heartbeat("w", {"n": 2})
    assert backend.heartbeats()["w"].info == {"n": 2}
    backend.forget_heartbeat("w")
    assert backend.heartbeats() == {}


def test_heartbeats_expire(backend: ResultBackend, clock) -> None:
    backend.heartbeat("w", {}, expires_seconds=1)
    clock.advance(1.5)
    assert backend.heartbeats() == {}


# -- lease locks ----------------------------------------------------------------------------------------
def test_lock_has_one_holder(backend: ResultBackend) -> None:
    wins = _in_threads(6, lambda i: backend.acquire_lock("beat", f"b{i}", 30))
    assert wins.count(True) == 1
    holder = f"b{wins.index(True)}"
    assert backend.lock_owner("beat") == holder
    assert backend.acquire_lock("beat", holder, 30)  # the holder renews by acquiring again
    assert backend.renew_lock("beat", holder, 30)


def test_lock_expires_and_is_taken_over(backend: ResultBackend, clock) -> None:
    assert backend.acquire_lock("beat", "a", 1)
    assert not backend.acquire_lock("beat", "b", 1)
    clock.advance(1.5)
    assert backend.lock_owner("beat") is None
    assert backend.acquire_lock("beat", "b", 10)
    assert not backend.renew_lock("beat", "a", 10)  # a lost it
    assert not backend.release_lock("beat", "a")
    assert backend.lock_owner("beat") == "b"


def test_released_lock_is_free(backend: ResultBackend) -> None:
    assert backend.acquire_lock("beat", "a", 30)
    assert backend.release_lock("beat", "a")
    assert backend.lock_owner("beat") is None
    assert backend.acquire_lock("beat", "b", 30)


# -- records ----------------------------------------------------------------------------------------------
def test_record_put_get_replace_delete(backend: ResultBackend) -> None:
    assert backend.get_record("django-task", "id1") is None
    backend.put_record("django-task", "id1", {"task": "app.tasks.add", "args": [1, 2], "attempts": []})
    assert backend.get_record("django-task", "id1") == {"task": "app.tasks.add", "args": [1, 2], "attempts": []}
    backend.put_record("django-task", "id1", {"attempts": [{"worker": "w"}]})
    assert backend.get_record("django-task", "id1") == {"attempts": [{"worker": "w"}]}
    backend.delete_record("django-task", "id1")
    assert backend.get_record("django-task", "id1") is None


def test_records_are_kept_per_kind_and_apart_from_metas(backend: ResultBackend) -> None:
    backend.put_record("a", "same", 1)
    backend.put_record("b", "same", 2)
    backend.store_meta("same", {"status": "SUCCESS"})
    assert (backend.get_record("a", "same"), backend.get_record("b", "same")) == (1, 2)
    assert backend.get_meta("same") == {"status": "SUCCESS"}
    assert backend.revoked_ids() == set() and backend.heartbeats() == {}


def test_records_expire(backend: ResultBackend, clock) -> None:
    backend.put_record("a", "k", {"x": 1}, expires_seconds=1)
    clock.advance(1.5)
    assert backend.get_record("a", "k") is None
