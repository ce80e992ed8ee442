"""Remote control without a broadcast channel: revoke, inspect and control workers through a shared store.

Cloudflare Queues cannot fan a message out to every worker, so Celery's broadcast mailbox is replaced by
the store every worker and client already share: the app's result backend, or, with no result backend
and the embedded broker, an SQLite file beside the broker's (one machine).

- :mod:`.store`: which store that is for an app.
- :mod:`.heartbeat`: what each worker writes every few seconds (its tasks, counters, queues), and how a
  client reads the live ones (a stale heartbeat is a worker gone).
- :mod:`.mailbox`: commands for workers (terminate, shutdown, rate_limit, ...), numbered in the store.
- :mod:`.replies`: heartbeats turned into Celery's reply shapes (``{"celery@host": [...]}``).
- :mod:`.agent`: the worker's side: heartbeats, the revoked-id cache checked before each task, commands.
- :mod:`.client`: ``app.control`` and ``app.control.inspect()``.
- :mod:`.command`: ``cfq-shim status``, ``cfq-shim inspect active|...``, ``cfq-shim control revoke ...``.
"""

from .client import Control, Inspect
from .heartbeat import is_task_running

__all__ = ["Control", "Inspect", "is_task_running"]
