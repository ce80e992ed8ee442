"""Every rule's own examples (the ones docs/rules.md shows) hold, Fixit-style."""

from __future__ import annotations

import pytest

from celery2cfq.fixers import ALL_CODES, RULES
from celery2cfq.model import Options

from fixer_helpers import codes, run

EXAMPLES = [
    pytest.param(rule, example, id=f"{code}-{n}")
    for code, rule in RULES.items()
    for n, example in enumerate(rule.examples)
]


@pytest.mark.parametrize(("rule", "example"), EXAMPLES)
def test_example(rule, example):
    result = run(example.before, path=example.path, files=dict(example.files), options=Options(**dict(example.options)))
    assert result.source == example.after
    if not rule.rewrites:
        assert rule.code in codes(result), "a finding rule's example must produce its finding"


def test_every_rule_has_an_example_and_a_description():
    for code, rule in RULES.items():
        assert rule.examples, code
        assert rule.description and rule.title, code
        assert rule.code == code


def test_codes_follow_the_scheme():
    assert all(code.startswith("CFQ") and len(code) == 6 and code[3] in "12345" for code in ALL_CODES)
    assert len({rule.name for rule in RULES.values()}) == len(RULES)
