"""The consumer settings an app gives its queues: one function, used everywhere a queue is made.

:func:`consumer_settings` is what the embedded store gets when the app creates a queue on first use
(``Celery.queue_settings``, called by the producer and the worker) and what ``cfq-shim provision`` sets
on Cloudflare's ``http_pull`` consumer, so a project behaves the same on both. Each default, and why:

- ``max_retries``: ``cfq_queue_max_retries``, else Cloudflare's default of 3 (a message is delivered up to
  4 times), capped at Cloudflare's 100. It counts *deliveries*, including lapsed leases; Celery's
  ``Task.max_retries`` (task retries) is separate and checked by the worker.
- ``dead_letter_queue``: ``<queue>-dlq`` (a dead-letter queue has none). Cloudflare deletes an exhausted
  message when a queue has no dead-letter queue; a migrated project should never lose one silently.
- ``visibility_timeout_ms`` (the lease): ``broker_visibility_timeout`` seconds, else Celery's
  ``broker_transport_options['visibility_timeout']``, else one hour (Celery's ``visibility_timeout`` on
  Redis; Cloudflare's own 30 s ran any longer task twice); at most 12 h. The worker
  asks for its own lease on every pull (see docs/worker.md); this is the default for other pullers.
- ``retry_delay_seconds``: **0**. On Cloudflare a consumer's ``retry_delay`` also applies to leases
  that lapse: with the 180 s of Celery's ``Task.default_retry_delay`` (what ``provision`` used to set), a
  crashed worker's messages came back only after the lease *plus three minutes*. The worker always
  names the delay of the retries it makes (a task's ``countdown``, its ``default_retry_delay``), so this
  setting only decides how soon an abandoned message is delivered again: right after its lease.
- ``batch_size``: Cloudflare's maximum of a pull (100). The worker names its batch on every pull (its
  prefetch, up to this); a pull that names none (another tool) gets what the worker may ask for.
"""

from __future__ import annotations

from .conf import DEFAULT_VISIBILITY_TIMEOUT_SECONDS, Settings
from .exceptions import ImproperlyConfigured
from .limits import Limits
from .naming import DEAD_LETTER_SUFFIX, dead_letter_queue_name
from .transport.base import QueueSettings

__all__ = ["consumer_settings", "visibility_timeout_ms", "LAPSED_LEASE_RETRY_DELAY_SECONDS"]

#: The consumer's ``retry_delay``: how long a message whose lease lapsed waits before it is delivered again.
LAPSED_LEASE_RETRY_DELAY_SECONDS = 0


def visibility_timeout_ms(conf: Settings, limits: Limits) -> int:
    """The lease: ``broker_visibility_timeout`` seconds, else Celery's
    ``broker_transport_options['visibility_timeout']``, else :data:`cfq_shim.conf.DEFAULT_VISIBILITY_TIMEOUT_SECONDS`
    (one hour, Celery's on Redis); capped at Cloudflare's maximum. A value that is not a positive number
    is :class:`ImproperlyConfigured`."""
    seconds = conf.broker_visibility_timeout
    if seconds is None:
        seconds = (conf.broker_transport_options or {}).get("visibility_timeout")
    if seconds is None:
        seconds = DEFAULT_VISIBILITY_TIMEOUT_SECONDS
    try:
        milliseconds = int(float(seconds) * 1000)
    except (TypeError, ValueError):
        raise ImproperlyConfigured(
            f"visibility_timeout must be a number of seconds (got {seconds!r} in broker_visibility_timeout "
            "or broker_transport_options)"
        ) from None
    if milliseconds <= 0:
        raise ImproperlyConfigured(f"visibility_timeout must be more than 0 seconds (got {seconds!r})")
    return min(milliseconds, limits.max_visibility_timeout_ms)


def consumer_settings(name: str, conf: Settings, limits: Limits) -> QueueSettings:
    """The consumer settings of the app's queue ``name`` (see the module docstring for each default)."""
    max_retries = conf.cfq_queue_max_retries
    if max_retries is None:
        max_retries = limits.default_max_retries
    return QueueSettings(
        max_retries=max(0, min(int(max_retries), limits.max_max_retries)),
        dead_letter_queue=None if name.endswith(DEAD_LETTER_SUFFIX) else dead_letter_queue_name(name),
        retry_delay_seconds=LAPSED_LEASE_RETRY_DELAY_SECONDS,
        visibility_timeout_ms=visibility_timeout_ms(conf, limits),
        batch_size=limits.max_pull_batch_size,
    )
