"""The settings table covers every Celery 5.7 setting, and docs/settings.md lists each one."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from celery.app import defaults as celery_defaults

from cfq_shim.conf import HONOURED_SETTINGS, IGNORED_SETTINGS, OLD_NAMES, SHIM_SETTINGS, Settings

CELERY_SETTINGS = {name for name, _ in celery_defaults.flatten(celery_defaults.NAMESPACES)}
DOCS = (Path(__file__).resolve().parents[2] / "docs" / "settings.md").read_text()


def test_every_celery_setting_is_honoured_or_ignored_exactly_once():
    assert set(HONOURED_SETTINGS) | IGNORED_SETTINGS == CELERY_SETTINGS
    assert not set(HONOURED_SETTINGS) & IGNORED_SETTINGS
    assert not set(SHIM_SETTINGS) & CELERY_SETTINGS


def test_honoured_defaults_are_celerys():
    for name, default in HONOURED_SETTINGS.items():
        theirs = celery_defaults.flatten(celery_defaults.NAMESPACES)
        celery_default = dict((n, o.default) for n, o in theirs)[name]
        if name in ("broker_url", "result_backend", "task_annotations", "task_routes", "task_queues"):
            continue  # environment-dependent or None-like in both
        assert default == celery_default or (not default and not celery_default), name


def test_old_names_are_celerys():
    assert OLD_NAMES == dict(celery_defaults._TO_NEW_KEY)


def test_docs_list_every_setting():
    for name in [*HONOURED_SETTINGS, *SHIM_SETTINGS, *IGNORED_SETTINGS]:
        assert f"`{name}`" in DOCS, name


def test_defaults_and_explicit_values():
    conf = Settings({"task_default_queue": "q"})
    assert conf.task_default_queue == "q" and conf.task_always_eager is False
    assert conf.is_set("task_default_queue") and not conf.is_set("task_always_eager")
    assert conf.changes_only() == {"task_default_queue": "q"}
    assert conf.result_persistent is None  # an ignored Celery setting reads as None until set
    assert conf.result_expires == timedelta(days=1)  # honoured, with Celery's default
    assert "task_routes" in conf and "nonsense" not in conf
