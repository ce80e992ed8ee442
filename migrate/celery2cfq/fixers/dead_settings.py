"""Settings with no effect on Cloudflare Queues are reported (CFQ208), and kept.

They configure the old broker's connection (heartbeats, pools, SSL, failover, host and password
parts of a pre-4.0 URL), AMQP routing (default exchange, routing key, delivery mode, priorities),
or the event and remote-control exchanges. The shim ignores them. They are not removed, so the
change stays reviewable and a rollback to Celery still works; delete them when the migration is
done. Parts of a broker URL (``broker_password``, ``BROKER_USER``) hold credentials: remove them.
"""

from __future__ import annotations

from ._base import Example, FileContext, Rule
from ._settings import SettingEdit, SettingSite, setting_handler

__all__ = ["handle_setting", "RULES", "WITHOUT_EFFECT"]

RULES = (
    Rule(
        code="CFQ208",
        name="setting-without-effect",
        title="A setting with no effect on Cloudflare Queues",
        description=(
            "Broker connection settings (`broker_heartbeat`, `broker_pool_limit`, `broker_use_ssl`, ...), AMQP "
            "routing defaults (`task_default_exchange`, `task_default_routing_key`, `task_default_priority`, ...) "
            "and event/control exchange settings are kept and reported; the shim ignores them."
        ),
        examples=(
            Example(
                path="proj/celery.py",
                before="from celery import Celery\n\napp = Celery('proj')\napp.conf.update(broker_pool_limit=10, task_default_queue='jobs')\n",
                after="from cfq_shim import Celery\n\napp = Celery('proj')\napp.conf.update(broker_pool_limit=10, task_default_queue='jobs')\n",
            ),
        ),
    ),
)

#: Parts of a broker URL: they may hold credentials.
URL_PARTS = frozenset({"broker_host", "broker_port", "broker_user", "broker_password", "broker_vhost", "broker_transport"})

WITHOUT_EFFECT = URL_PARTS | frozenset({
    "broker_channel_error_retry", "broker_connection_max_retries", "broker_connection_retry",
    "broker_connection_retry_on_startup", "broker_connection_timeout", "broker_failover_strategy",
    "broker_heartbeat", "broker_heartbeat_checkrate", "broker_login_method",
    "broker_native_delayed_delivery_queue_type", "broker_pool_acquire_timeout", "broker_pool_limit",
    "broker_use_ssl",
    "control_exchange", "control_queue_durable", "control_queue_exclusive", "control_queue_expires",
    "control_queue_ttl", "event_exchange", "event_queue_durable", "event_queue_exclusive",
    "event_queue_expires", "event_queue_prefix", "event_queue_ttl",
    "task_create_missing_queue_exchange_type", "task_create_missing_queue_type",
    "task_default_delivery_mode", "task_default_exchange", "task_default_exchange_type",
    "task_default_priority", "task_default_queue_type", "task_default_routing_key",
    "task_queue_max_priority", "worker_direct",
})


@setting_handler(order=40)
def handle_setting(site: SettingSite, ctx: FileContext) -> SettingEdit | None:
    if site.key in URL_PARTS:
        ctx.report(site.node, "CFQ208", f"{site.spelling} is part of the old broker's URL and may hold credentials: remove it")
    elif site.key in WITHOUT_EFFECT:
        ctx.report(site.node, "CFQ208", f"{site.spelling} has no effect on Cloudflare Queues; kept, remove it when the migration is done")
    return None
