"""CFQ505: chords (group and chain run in the shim and stay quiet)."""

from fixer_helpers import check_noop, codes


def test_chord_is_reported():
    result = check_noop("from cfq_shim.canvas import chord\nc = chord([])(cb)\n")
    assert codes(result) == ["CFQ505"]


def test_group_and_chain_run_in_the_shim_and_stay_quiet():
    result = check_noop("from cfq_shim import chain, group\njob = chain(a, b)\ng = group([])\n")
    assert codes(result) == []


def test_canvas_name_from_elsewhere_stays_quiet():
    assert codes(check_noop("from cfq_shim import Celery\nfrom itertools import chain\nchain(a, b)\n")) == []


def test_chord_with_a_result_backend_in_the_project_is_quiet():
    # Chords count their header's results in the backend (issue 8): with one configured they work.
    files = {"proj/celery.py": "from cfq_shim import Celery\napp = Celery('proj', backend='redis://localhost/1')\n"}
    result = check_noop("from cfq_shim import chord\nc = chord([])(cb)\n", files=files)
    assert codes(result) == []


def test_chord_without_a_backend_says_what_to_set():
    result = check_noop("from cfq_shim import chord\nc = chord([])(cb)\n")
    assert result.findings[0].message.startswith("chord(): no result backend is configured")
