"""Fix-ups: prepare the framework a project's tasks live in, as Celery's ``celery.fixups`` do.

Only Django has one (:mod:`cfq_shim.fixups.django`). Each fix-up decides from the environment whether it
applies, and imports its framework only when it does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .django import fixup as django_fixup

if TYPE_CHECKING:  # pragma: no cover
    from ..app import Celery

__all__ = ["install_fixups"]


def install_fixups(app: "Celery") -> list[Any]:
    """The fix-ups that apply to ``app`` in this environment, installed (an empty list when none does)."""

    installed = django_fixup(app)
    return [installed] if installed is not None else []
