"""Contract: task metas and groups are stored, read back, replaced, forgotten and expire."""

from __future__ import annotations

import subprocess
import sys

from cfq_shim.results.base import ResultBackend


def test_unknown_id_reads_as_nothing(backend: ResultBackend) -> None:
    assert backend.get_meta("never-stored") is None
    assert backend.get_many_meta(["never-stored", "nor-this"]) == {}


def test_store_then_read_back_json(backend: ResultBackend) -> None:
    meta = {"status": "SUCCESS", "result": {"n": [1, 2.5, None, "é"]}, "traceback": None, "children": []}
    backend.store_meta("t1", meta)
    assert backend.get_meta("t1") == meta


def test_a_second_store_replaces_the_first(backend: ResultBackend) -> None:
    backend.store_meta("t1", {"status": "STARTED"})
    backend.store_meta("t1", {"status": "SUCCESS", "result": 4})
    assert backend.get_meta("t1") == {"status": "SUCCESS", "result": 4}


def test_get_many_returns_only_what_exists(backend: ResultBackend) -> None:
    backend.store_many_meta([(f"t{i}", {"status": "SUCCESS", "result": i}) for i in range(1200)])
    ids = [f"t{i}" for i in range(0, 1200, 7)] + ["missing"]
    found = backend.get_many_meta(ids)
    assert set(found) == set(ids) - {"missing"}
    assert found["t700"]["result"] == 700


def test_forget_removes_the_meta(backend: ResultBackend) -> None:
    backend.store_meta("t1", {"status": "SUCCESS"})
    backend.forget("t1")
    assert backend.get_meta("t1") is None
    backend.forget("t1")  # forgetting twice is fine


def test_meta_expires(backend: ResultBackend, clock) -> None:
    backend.store_meta("short", {"status": "SUCCESS"}, expires_seconds=1)
    backend.store_meta("kept", {"status": "SUCCESS"})
    assert backend.get_meta("short") is not None
    clock.advance(1.5)
    assert backend.get_meta("short") is None
    assert backend.get_meta("kept") is not None


def test_cleanup_purges_expired_entries(backend: ResultBackend, clock) -> None:
    backend.store_many_meta([(f"t{i}", {"status": "SUCCESS"}) for i in range(5)], expires_seconds=1)
    backend.store_meta("kept", {"status": "SUCCESS"}, expires_seconds=3600)
    clock.advance(1.5)
    removed = backend.cleanup()
    assert removed >= 5 or (backend.expires_by_itself and removed == 0)
    assert set(backend.get_many_meta([f"t{i}" for i in range(5)] + ["kept"])) == {"kept"}


def test_writes_purge_expired_entries_without_a_scheduler(backend: ResultBackend, clock) -> None:
    # Given an expired entry and a backend that purges on writes every second
    backend.cleanup_interval_seconds = 1
    backend.store_meta("old", {"status": "SUCCESS"}, expires_seconds=1)
    clock.advance(1.5)
    # When another result is written
    backend.store_meta("new", {"status": "SUCCESS"})
    # Then the expired one is already gone from the store (a cleanup now finds nothing left)
    assert backend.cleanup() == 0
    assert backend.get_meta("new") is not None


def test_group_save_restore_delete(backend: ResultBackend) -> None:
    described = [["g1", None], [[["a", None], None], [["b", None], None]]]
    backend.save_group("g1", described)
    assert backend.restore_group("g1") == described
    backend.delete_group("g1")
    assert backend.restore_group("g1") is None


def test_another_process_reads_what_this_one_wrote(opened) -> None:
    if opened.url is None:
        # memory:// is private to one process by design, and says so.
        assert opened.backend.shared_between_processes is False
        return
    opened.backend.store_meta("shared", {"status": "SUCCESS", "result": 42})
    code = (
        "import json, sys\n"
        "from cfq_shim.results import open_backend\n"
        "backend = open_backend(sys.argv[1])\n"
        "print(json.dumps(backend.get_meta('shared')))\n"
        "backend.store_meta('from-child', {'status': 'FAILURE'})\n"
    )
    output = subprocess.run([sys.executable, "-c", code, opened.url], capture_output=True, text=True, check=True).stdout
    assert '"result": 42' in output
    assert opened.backend.get_meta("from-child") == {"status": "FAILURE"}
