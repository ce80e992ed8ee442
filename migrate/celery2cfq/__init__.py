"""celery2cfq: migrate Celery code to Cloudflare Queues (the ``cfq_shim`` runtime)."""

__version__ = "0.1.0"
