"""docs/rules.md is generated from the rules and must match them."""

from pathlib import Path

from celery2cfq.fixers import ALL_CODES
from celery2cfq.fixers._docs import render

DOC = Path(__file__).resolve().parents[3] / "docs" / "rules.md"


def test_docs_match_the_rules():
    assert DOC.read_text(encoding="utf-8") == render(), "regenerate: python -m celery2cfq.fixers._docs docs/rules.md"


def test_every_code_has_a_section():
    text = DOC.read_text(encoding="utf-8")
    for code in ALL_CODES:
        assert f"\n## {code}\n" in text
