"""How a Celery queue name becomes a Cloudflare queue name: the one place that says so.

Cloudflare accepts queue names of lowercase letters, digits and dashes that start and end with a
letter or digit, up to ``Limits.max_queue_name_length`` characters. Celery accepts almost anything
(``high.priority``, ``Emails_v2``, ``celery``). The rule, applied to ``prefix + name``:

1. A name Cloudflare accepts is used unchanged: ``celery`` -> ``celery``, ``staging-celery`` stays.
2. Any other name is lowercased, every run of other characters becomes one dash, dashes at either
   end are dropped, and ``-`` plus the first 8 hex digits of the SHA-1 of the *original* name is
   appended, so two Celery names that clean up alike (``a.b``, ``a_b``) never share a queue:
   ``high.priority`` -> ``high-priority-6f4e2a1b`` (the digits depend on the name). The cleaned part
   is shortened so the result fits the length limit.

The mapping is deterministic: producers, workers, ``cfq-shim provision`` and the wrangler commands it
prints all agree without sharing state. Dead-letter queues map the same way from
:func:`cfq_shim.naming.dead_letter_queue_name`.
"""

from __future__ import annotations

import hashlib
import re

from ..limits import DEFAULT_LIMITS, Limits

__all__ = ["cloudflare_queue_name", "is_valid_cloudflare_queue_name"]

_VALID = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
_INVALID_RUN = re.compile(r"[^a-z0-9]+")
_DIGEST_CHARS = 8


def is_valid_cloudflare_queue_name(name: str, *, limits: Limits = DEFAULT_LIMITS) -> bool:
    """True when Cloudflare accepts ``name`` as a queue name."""
    return len(name) <= limits.max_queue_name_length and _VALID.match(name) is not None


def cloudflare_queue_name(queue: str, *, prefix: str = "", limits: Limits = DEFAULT_LIMITS) -> str:
    """The Cloudflare queue that carries Celery queue ``queue`` (see the module docstring)."""
    if not queue:
        raise ValueError("a queue name cannot be empty")
    wanted = f"{prefix}{queue}"
    if is_valid_cloudflare_queue_name(wanted, limits=limits):
        return wanted
    digest = hashlib.sha1(wanted.encode("utf-8")).hexdigest()[:_DIGEST_CHARS]
    cleaned = _INVALID_RUN.sub("-", wanted.lower()).strip("-")
    room = limits.max_queue_name_length - len(digest) - 1
    cleaned = cleaned[:room].rstrip("-")
    return f"{cleaned}-{digest}" if cleaned else digest
