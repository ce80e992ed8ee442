"""Beat: periodic tasks, sent by exactly one process at a time.

- :mod:`.schedules`: ``schedule``, ``crontab``, ``solar`` and the next-run computation;
- :mod:`.entries`: ``beat_schedule`` and ``add_periodic_task`` read into checked entries;
- :mod:`.state`: the ``--schedule`` file (SQLite): the last due time sent per entry;
- :mod:`.lock`: the lease lock that lets one beat of many send;
- :mod:`.service`: the loop that sends due entries;
- :mod:`.wiring`: a beat for an app (entries, sender, where the lease lives);
- :mod:`.embedded`: ``cfq-shim worker -B``;
- :mod:`.django_scheduler`: ``-S django``, django_celery_beat's tables;
- :mod:`.wrangler`: ``--export-wrangler``, the schedule as Cloudflare Cron Triggers;
- :mod:`.command`: ``cfq-shim -A proj beat``.

Importing this package imports nothing but the schedules (settings modules import ``crontab``).
"""

from .schedules import crontab, maybe_schedule, schedstate, schedule, solar

__all__ = ["crontab", "maybe_schedule", "schedstate", "schedule", "solar"]
