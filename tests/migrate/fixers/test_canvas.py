"""CFQ505: canvas calls."""

from fixer_helpers import check_noop, codes


def test_canvas():
    result = check_noop("from cfq_shim import chain, group\nfrom cfq_shim.canvas import chord\njob = chain(a, b)\ng = group([])\nc = chord([])(cb)\n")
    assert codes(result) == ["CFQ505", "CFQ505", "CFQ505"]


def test_canvas_name_from_elsewhere_stays_quiet():
    assert codes(check_noop("from cfq_shim import Celery\nfrom itertools import chain\nchain(a, b)\n")) == []
