"""The name table points only at names cfq_shim really provides, and the vendored setting-name table
equals the installed Celery's."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from celery2cfq import names, setting_names

TARGETS = sorted({(target, name) for (_, name), target in names.PROVIDED.items()})


@pytest.mark.parametrize(("module", "name"), TARGETS, ids=[f"{m}.{n}" for m, n in TARGETS])
def test_every_mapped_name_imports_from_the_shim(module: str, name: str):
    shim_module = importlib.import_module(module)
    if not hasattr(shim_module, name):  # a submodule, e.g. ``from cfq_shim import signals``
        importlib.import_module(f"{module}.{name}")


def test_celery_names_exist_in_celery():
    """Each mapped source name is a real Celery name (catches typos in the table)."""
    for (module, name) in names.PROVIDED:
        celery_module = importlib.import_module(module)
        if not hasattr(celery_module, name):  # a submodule, e.g. ``from celery import states``
            importlib.import_module(f"{module}.{name}")


def test_signals_match_celery():
    import celery.signals

    assert set(celery.signals.__all__) <= names.SIGNALS
    assert names.SIGNALS_NOT_SENT <= names.SIGNALS


def test_cfq_shim_spellings_map_back_to_celery():
    assert names.celery_equivalent("cfq_shim.log.get_task_logger") == "celery.utils.log.get_task_logger"
    assert names.celery_equivalent("cfq_shim.Celery") == "celery.Celery"
    assert names.celery_equivalent("cfq_shim.exceptions.Retry") == "celery.exceptions.Retry"
    assert names.celery_equivalent("cfq_shimmer.x") == "cfq_shimmer.x"
    assert names.celery_equivalent("proj.tasks") == "proj.tasks"


def test_setting_names_equal_the_installed_celery_table():
    from celery.app.defaults import DEFAULTS, _TO_NEW_KEY

    assert setting_names.OLD_TO_NEW == dict(_TO_NEW_KEY)
    assert setting_names.NEW_NAMES == frozenset(DEFAULTS)


def test_the_generator_reproduces_the_vendored_module():
    sys.path.insert(0, str(importlib.import_module("pathlib").Path(__file__).resolve().parents[2] / "tools"))
    try:
        import gen_setting_names
    finally:
        sys.path.pop(0)
    assert gen_setting_names.TARGET.read_text(encoding="utf-8") == gen_setting_names.render()


def test_the_codemod_does_not_import_celery_or_the_shim():
    code = (
        "import sys, celery2cfq.transform, celery2cfq.index, celery2cfq.prefilter;"
        "print(sorted(m for m in ('celery', 'cfq_shim', 'kombu') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
