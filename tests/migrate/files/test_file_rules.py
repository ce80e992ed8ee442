"""The non-Python rules' own examples (the ones docs/rules.md shows) hold, and their codes follow
the scheme."""

from __future__ import annotations

import pytest

from celery2cfq.files import transform_file
from celery2cfq.files.rules import FILE_CODES, FILE_RULES, MANUAL_CODES
from celery2cfq.fixers import ALL_CODES
from celery2cfq.model import Options

EXAMPLES = [
    pytest.param(rule, example, id=f"{code}-{n}")
    for code, rule in FILE_RULES.items()
    for n, example in enumerate(rule.examples)
]


@pytest.mark.parametrize(("rule", "example"), EXAMPLES)
def test_example(rule, example):
    result = transform_file(example.before, path=example.path, options=Options())
    assert result.source == example.after
    if rule.rewrites:
        assert result.source != example.before, "a rewriting rule's example must change the file"
    else:
        assert rule.code in {f.code for f in result.findings}, "a finding rule's example must produce its finding"
    again = transform_file(result.source, path=example.path, options=Options())
    assert again.source == result.source, "a second run must change nothing"


def test_codes_follow_the_scheme_and_do_not_clash_with_python_codes():
    assert all(code.startswith(("CFQ6", "CFQ7")) and len(code) == 6 for code in FILE_CODES)
    assert not FILE_CODES & ALL_CODES
    assert MANUAL_CODES <= FILE_CODES
    assert len({rule.name for rule in FILE_RULES.values()}) == len(FILE_RULES)
