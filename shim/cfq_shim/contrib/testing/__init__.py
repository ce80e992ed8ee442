"""Test helpers, as ``celery.contrib.testing``: :func:`cfq_shim.contrib.testing.worker.start_worker`."""
