"""Dead-letter tools: read, replay and purge what the worker put in ``<queue>-dlq``.

- :mod:`.entries`: one dead letter as the tools see it (the transport message, the parsed record and a
  summary of the original envelope).
- :mod:`.selection`: which dead letters a command acts on (``--queue``, ``--task``, ``--id``, ``--reason``,
  ``--since``).
- :mod:`.access`: reading and settling a dead-letter queue through the transport seam, so the same code
  serves the embedded store and Cloudflare. Reading leases (Cloudflare has no unleased listing of a
  whole queue); leases are handed back, or acked only after a replayed copy was accepted.
- :mod:`.command`: ``cfq-shim -A proj dlq list|show|replay|purge``.
"""

from .access import DeadLetterQueue, ReplayReport
from .entries import DeadLetterEntry
from .selection import Selection, parse_since

__all__ = ["DeadLetterQueue", "DeadLetterEntry", "ReplayReport", "Selection", "parse_since"]
