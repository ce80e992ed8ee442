"""Django's task framework under one set of names: ``django.tasks`` (Django 6), else the ``django-tasks``
backport (``django_tasks``) that older Django versions install, whose API is the same apart from its
exception names (``InvalidTaskError``, ``InvalidTaskBackendError``) and where ``normalize_json`` lives."""

from __future__ import annotations

import django

try:
    from django.tasks import (
        DEFAULT_TASK_QUEUE_NAME, Task, TaskContext, TaskResult, TaskResultStatus, task, task_backends,
    )
    from django.tasks.backends.base import BaseTaskBackend
    from django.tasks.base import TaskError
    from django.tasks.exceptions import InvalidTask, InvalidTaskBackend, TaskResultDoesNotExist
    from django.tasks.signals import task_enqueued, task_finished, task_started
    from django.utils.json import normalize_json

    #: Where the framework came from: ``"django.tasks"`` or ``"django_tasks"`` (the backport).
    SOURCE = "django.tasks"
except ImportError:
    try:
        from django_tasks import (
            DEFAULT_TASK_QUEUE_NAME, TaskContext, TaskResult, TaskResultStatus, task, task_backends,
        )
        from django_tasks.backends.base import BaseTaskBackend
        from django_tasks.base import Task, TaskError
        from django_tasks.exceptions import InvalidTaskBackendError as InvalidTaskBackend
        from django_tasks.exceptions import InvalidTaskError as InvalidTask
        from django_tasks.exceptions import TaskResultDoesNotExist
        from django_tasks.signals import task_enqueued, task_finished, task_started
        from django_tasks.utils import normalize_json

        SOURCE = "django_tasks"
    except ImportError as exc:  # name what is missing rather than "No module named 'django.tasks'"
        raise ImportError(
            f"cfq_shim.django.tasks is a backend for Django's task framework (django.tasks), which Django "
            f"{django.get_version()} does not have: upgrade to Django 6 (it needs Python 3.12 or newer), or "
            "install the django-tasks backport (pip install django-tasks)"
        ) from exc

__all__ = [
    "SOURCE", "DEFAULT_TASK_QUEUE_NAME", "Task", "TaskContext", "TaskResult", "TaskResultStatus", "TaskError",
    "task", "task_backends", "BaseTaskBackend", "InvalidTask", "InvalidTaskBackend", "TaskResultDoesNotExist",
    "task_enqueued", "task_started", "task_finished", "normalize_json",
]
