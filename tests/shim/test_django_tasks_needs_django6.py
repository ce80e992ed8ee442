"""On a Django without ``django.tasks`` (before 6), the backend module says so when imported; the backend
itself is tested with Django 6 in tests/e2e/test_django_tasks.py (slow, in a Python >= 3.12 virtualenv)."""

from __future__ import annotations

import importlib
import importlib.util

import django
import pytest


def _has_django_tasks() -> bool:
    return importlib.util.find_spec("django.tasks") is not None


@pytest.mark.skipif(_has_django_tasks(), reason=f"Django {django.get_version()} has django.tasks")
def test_importing_the_backend_on_an_older_django_names_what_is_missing() -> None:
    with pytest.raises(ImportError) as raised:
        importlib.import_module("cfq_shim.django.tasks")
    assert str(raised.value) == (
        "cfq_shim.django.tasks is a backend for Django 6's task framework (django.tasks), which Django "
        f"{django.get_version()} does not have: upgrade to Django 6 (it needs Python 3.12 or newer)"
    )
