"""Django integrations that a project opts into by name.

- ``cfq_shim.django.tasks``: a backend for Django's task framework (``django.tasks``, Django 6, or the
  ``django-tasks`` backport), so code that uses ``@task`` / ``enqueue()`` runs on the same queues and
  worker as the project's Celery tasks (``cfq_shim.django.framework`` imports whichever is there).
- ``cfq_shim.django.app``: a ready-made app configured from Django's ``CELERY_*`` settings, for a project
  that has no ``proj/celery.py`` (``cfq-shim -A cfq_shim.django.app worker``).
- ``cfq_shim.django.outbox``: the transactional outbox, a Django app whose table holds messages written
  in the project's own transaction; ``cfq-shim -A proj forward`` sends them once it commits.

The Celery-style fix-up that ``Celery()`` applies by itself under Django is in ``cfq_shim.fixups.django``.
Nothing here is imported by the rest of the shim: each module is loaded by Django, by its dotted path.
"""
