"""The transactional outbox for Django: ``delay_on_commit`` writes the message into the project's own
database, in the caller's transaction, so a task is enqueued if and only if that transaction commits.

Turn it on with two lines in the Django settings, then migrate::

    INSTALLED_APPS = [..., "cfq_shim.django.outbox"]
    CELERY_CFQ_TRANSACTIONAL_OUTBOX = True     # app.conf.cfq_transactional_outbox

    $ python manage.py migrate cfq_shim_outbox

Then ``task.delay_on_commit(...)`` and ``task.apply_async_on_commit(...)`` INSERT the finished message
(the same envelope ``.delay()`` would send, size-checked the same way) into the table
``cfq_shim_outbox`` through Django's connection for the outbox model's database (the router's
``db_for_write``, ``"default"`` without a router; ``apply_async_on_commit(..., using=ALIAS)`` names
another). Inside ``transaction.atomic()`` the row commits or rolls back with the caller's own rows,
savepoints included; outside a transaction (autocommit) it is committed at once. A router that puts the
outbox in another database than the transaction the call is in (``"default"``, or ``using``) is refused
(ImproperlyConfigured): the row would commit at once there. A forwarder pushes the
committed rows to the queue in bulk and deletes what the queue accepted: a thread of the process that
wrote them (woken when the transaction commits; ``cfq_outbox_forwarder = "external"`` turns it off) and
``cfq-shim -A proj forward``.

**The guarantee, exactly.** A row exists if and only if the caller's transaction committed (the
database's own atomicity), so a rolled-back transaction never enqueues. A committed row is deleted only
after the queue accepted a push that carried it, so it is pushed **at least once** provided some
forwarder runs later on that database. A forwarder killed after the queue stored a push but before it
deleted the rows leaves them to be pushed again: a duplicate with the same task id, which the worker
acks without running (cfq_shim.dedupe). Forwarders claim disjoint batches under a lease (a row column):
on one machine a dead forwarder's claims are taken over at once; across machines after the lease
(``DEFAULT_CLAIM_MS``, two minutes).

``delay_on_commit`` then returns the task's :class:`~cfq_shim.result.AsyncResult` (its id is known before
the commit, and can be saved in the same transaction); Celery's returns None.
"""

#: The Django app to add to INSTALLED_APPS, and its label (the migration's app name).
APP_NAME = "cfq_shim.django.outbox"
APP_LABEL = "cfq_shim_outbox"
#: The table the model and its migration create.
TABLE = "cfq_shim_outbox"
