"""The name table points only at names cfq_shim really provides, and the vendored setting-name table
equals the installed Celery's."""

from __future__ import annotations

import importlib
import importlib.util
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


def _exports(module_name: str) -> set[str]:
    module = importlib.import_module(module_name)
    if hasattr(module, "__all__"):
        return set(module.__all__)
    return {name for name in vars(module) if not name.startswith("_")}  # celery.contrib.django.task


@pytest.mark.parametrize("celery_module", sorted(names.MODULE_TARGETS))
def test_the_table_equals_what_celery_and_the_shim_both_export(celery_module: str):
    """Both directions: every name the table maps is one the shim exports (or a submodule of it),
    and every name the Celery module and its shim module both export is mapped, unless it is
    left out on purpose (``names.NOT_MAPPED``, with the reason). A name the shim gains becomes a
    failure here until the codemod migrates it (``from celery import current_task`` was left on
    Celery with CFQ103 while the shim exported it)."""
    shim_module, mapped = names.MODULE_TARGETS[celery_module]
    shim_exports = _exports(shim_module)
    package = importlib.import_module(shim_module)
    submodules = {
        name for name in mapped
        if hasattr(package, "__path__") and importlib.util.find_spec(f"{shim_module}.{name}") is not None
    }
    assert mapped - shim_exports <= submodules, f"mapped but not exported by {shim_module}"
    left_out = {name for (module, name) in names.NOT_MAPPED if module == celery_module}
    # Celery's ``__all__`` is not complete (``celery.states`` leaves out REJECTED), so the names
    # both export must be mapped, and the mapped ones must be Celery's (test_celery_names_exist_in_celery).
    assert (_exports(celery_module) & shim_exports) - left_out <= mapped
    assert left_out <= _exports(celery_module) & shim_exports, "NOT_MAPPED names a name one side lacks"


def test_current_task_is_migrated_with_the_other_names():
    from celery2cfq.index import ProjectIndex
    from celery2cfq.model import Options
    from celery2cfq.transform import transform_source

    source = "from celery import current_task, shared_task\n\n\n@shared_task\ndef who():\n    return current_task.request.id\n"
    out = transform_source(source, path="proj/tasks.py", index=ProjectIndex(), options=Options())
    assert out.source == source.replace("from celery import", "from cfq_shim import")
    assert [f.code for f in out.findings] == []


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


def test_remote_control_calls_the_codemod_passes_are_the_ones_the_shim_carries():
    """CFQ501 stays quiet exactly for the app.control and inspect() methods cfq_shim implements (the
    others raise FeatureNotAvailable there); revoke_by_stamped_headers is defined only to raise."""
    from cfq_shim.control.client import Control, Inspect

    from celery2cfq.fixers import remote_control

    def methods(cls: type) -> set[str]:
        return {name for name, value in vars(cls).items() if not name.startswith("_") and callable(value)}

    assert remote_control.CARRIED_CONTROL == methods(Control) - {"revoke_by_stamped_headers"}
    assert remote_control.CARRIED_INSPECT == methods(Inspect)
