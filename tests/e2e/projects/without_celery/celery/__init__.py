# Put first on PYTHONPATH for migrated projects: they must run where Celery is not installed.
raise ImportError("celery is not installed here: a migrated project must not need it")
