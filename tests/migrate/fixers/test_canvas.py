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
