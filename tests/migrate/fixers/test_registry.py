"""Fixers and setting handlers register themselves: every one defined in the package is in the
pass, in its declared order, and nothing is listed by hand in ``fixers/__init__.py``."""

from __future__ import annotations

import inspect
import pkgutil

import pytest

import celery2cfq.fixers as fixers_package
from celery2cfq.fixers import FIXERS, RULES, SETTING_HANDLERS
from celery2cfq.fixers._base import Fixer, registered_fixers
from celery2cfq.fixers._settings import SettingsFixer, setting_handler


def _package_modules():
    for info in pkgutil.iter_modules(fixers_package.__path__):
        yield __import__(f"celery2cfq.fixers.{info.name}", fromlist=["_"])


def test_every_fixer_class_in_the_package_runs_in_the_pass():
    defined = {
        obj for module in _package_modules() for obj in vars(module).values()
        if inspect.isclass(obj) and issubclass(obj, Fixer) and obj is not Fixer and obj.__module__ == module.__name__
    }
    assert set(FIXERS) == defined
    assert [cls.order for cls in FIXERS] == sorted(cls.order for cls in FIXERS)
    # The import rewrite decides whether a file's app stays on Celery; the settings pass reads that.
    assert FIXERS[0].__name__ == "ImportsFixer" and FIXERS[1] is SettingsFixer


def test_every_setting_handler_in_the_package_is_called():
    defined = {getattr(module, "handle_setting") for module in _package_modules() if hasattr(module, "handle_setting")}
    assert set(SETTING_HANDLERS) == defined
    assert len(SETTING_HANDLERS) == len(defined)


def test_every_rule_a_fixer_declares_is_a_known_code():
    for cls in FIXERS:
        for rule in cls.rules:
            assert RULES[rule.code] is rule


def test_two_fixers_cannot_take_one_place_in_the_pass():
    with pytest.raises(RuntimeError, match="both ask for order 10"):
        type("Clash", (Fixer,), {}, order=10)
    assert registered_fixers() == FIXERS


def test_two_handlers_cannot_take_one_place():
    with pytest.raises(RuntimeError, match="both ask for order 20"):
        setting_handler(order=20)(lambda site, ctx: None)
