"""cfq_shim: a drop-in Celery runtime on Cloudflare Queues."""

__version__ = "0.1.0"
