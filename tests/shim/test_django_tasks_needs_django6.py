"""On a Django without its task framework (before 6, and no ``django-tasks`` backport), the backend module
says so when imported; the backend itself is tested in tests/e2e/test_django_tasks.py (slow: Django 6 in
a Python >= 3.12 virtualenv, and Django 5.2 with the backport)."""

from __future__ import annotations

import importlib
import importlib.util

import django
import pytest


def _has_a_task_framework() -> bool:
    return any(importlib.util.find_spec(name) is not None for name in ("django.tasks", "django_tasks"))


@pytest.mark.skipif(_has_a_task_framework(), reason=f"Django {django.get_version()} has a task framework here")
def test_importing_the_backend_without_a_task_framework_names_what_is_missing() -> None:
    with pytest.raises(ImportError) as raised:
        importlib.import_module("cfq_shim.django.tasks")
    assert str(raised.value) == (
        "cfq_shim.django.tasks is a backend for Django's task framework (django.tasks), which Django "
        f"{django.get_version()} does not have: upgrade to Django 6 (it needs Python 3.12 or newer), or "
        "install the django-tasks backport (pip install django-tasks)"
    )
