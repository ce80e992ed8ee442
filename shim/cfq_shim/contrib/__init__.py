"""Integrations with other tools, under the module paths Celery uses (``celery.contrib.pytest`` ->
``cfq_shim.contrib.pytest``), so migrated imports keep their shape."""
