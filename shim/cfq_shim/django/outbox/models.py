"""The outbox table: one row per message written by ``delay_on_commit`` and not yet accepted by the queue.

Its columns follow the local outbox file's (cfq_shim/sending/outbox.py), so the same forwarder drains it.
Times are wall-clock milliseconds since the epoch, as there.
"""

from django.db import models

from . import TABLE


class OutboxMessage(models.Model):
    #: Commit order: each queue is pushed oldest first.
    id = models.BigAutoField(primary_key=True)
    #: Where the message goes: the transport's scheme, account, prefix (never credentials).
    destination = models.CharField(max_length=255)
    #: The Celery queue name.
    queue = models.CharField(max_length=255)
    #: The encoded envelope, exactly what ``.delay()`` would have sent.
    body = models.TextField()
    #: Body plus metadata bytes, as the batch limit counts them.
    cost = models.IntegerField()
    deliver_at_ms = models.BigIntegerField()
    enqueued_at_ms = models.BigIntegerField()
    attempts = models.IntegerField(default=0)
    #: Back-off after a failed push: nothing of this queue is pushed before it.
    not_before_ms = models.BigIntegerField(default=0)
    #: The last failed push of this message, and when (the forwarder's log says more).
    last_error = models.TextField(null=True, blank=True)
    error_at_ms = models.BigIntegerField(null=True, blank=True)
    #: "host:pid:token" of the forwarder pushing it, until ``claim_expires_ms``.
    claimed_by = models.CharField(max_length=255, null=True, blank=True)
    claim_expires_ms = models.BigIntegerField(default=0)

    class Meta:
        db_table = TABLE
        indexes = [models.Index(fields=["destination", "queue", "id"], name="cfq_shim_outbox_by_queue")]
        verbose_name = "outbox message"

    def __str__(self) -> str:
        return f"outbox message {self.id} to {self.queue!r}"
