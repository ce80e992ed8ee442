"""``app.conf``: Celery's settings, by Celery's names.

Three kinds of names (docs/settings.md lists them all):

- :data:`HONOURED_SETTINGS`: what the shim acts on, with Celery's defaults.
- :data:`SHIM_SETTINGS`: this project's own settings (``cfq_*``, ``broker_visibility_timeout``).
- :data:`IGNORED_SETTINGS`: every other Celery 5.7 setting. Accepted silently: they have no meaning here
  (result backends, AMQP exchanges, remote control, ...).

Any other name warns once (:class:`~cfq_shim.exceptions.NotConfigured`), so a typo such as
``task_always_eagre`` does not pass unnoticed. Celery's pre-4.0 upper-case names (``CELERY_ALWAYS_EAGER``,
``BROKER_URL``, ``CELERYD_CONCURRENCY``) are translated to the current ones.
"""

from __future__ import annotations

import importlib
import os
import warnings
from datetime import timedelta
from typing import Any, Iterator, Mapping, MutableMapping

from .exceptions import ConfigNotFound, ImproperlyConfigured, NotConfigured

__all__ = ["Settings", "DEFAULT_VISIBILITY_TIMEOUT_SECONDS", "CELERY_BROKER_URL_ENVVAR", "CELERY_RESULT_BACKEND_ENVVAR", "HONOURED_SETTINGS", "SHIM_SETTINGS", "IGNORED_SETTINGS", "OLD_NAMES", "load_object"]

#: Settings the shim acts on, with Celery 5.7's defaults.
HONOURED_SETTINGS: dict[str, Any] = {
    "broker_url": None,  # embedded store by default; see app.DEFAULT_BROKER_URL
    "broker_transport_options": {},  # only visibility_timeout (seconds) is read
    "imports": (),
    "include": (),
    "task_default_queue": "celery",
    "task_routes": None,
    "task_queues": None,  # only the queue names are read (app.queues())
    "task_always_eager": False,
    "task_eager_propagates": False,
    "task_acks_late": False,
    "task_ignore_result": False,  # fills Task.ignore_result
    "task_store_errors_even_if_ignored": False,
    "task_store_eager_result": False,
    "task_track_started": False,
    "task_time_limit": None,
    "task_soft_time_limit": None,
    "task_serializer": "json",  # "json" only; anything else is an error
    "task_default_rate_limit": None,  # fills Task.rate_limit (enforced per worker: worker/ratelimit.py)
    "task_annotations": None,
    "worker_concurrency": None,
    "worker_max_tasks_per_child": None,
    "worker_disable_rate_limits": False,  # True: the worker ignores every rate_limit
    "result_backend": None,  # no default: a project that reads results must name one (cfq_shim.results)
    "result_expires": timedelta(days=1),  # purged by the backend itself on writes: no beat needed
    "result_extended": False,
    "beat_schedule": {},  # sent by cfq-shim beat / worker -B (cfq_shim.beat)
    "beat_schedule_filename": "celerybeat-schedule",  # beat's -s default
    "beat_max_loop_interval": 0,  # 0: beat's default (300 s)
    "beat_cron_starting_deadline": None,
    "beat_scheduler": "celery.beat:PersistentScheduler",  # or django_celery_beat's (beat -S django)
    "timezone": None,  # the zone crontab entries are read in
    "enable_utc": True,
}

#: The lease of a pulled message when neither ``broker_visibility_timeout`` nor
#: ``broker_transport_options['visibility_timeout']`` is set: one hour, Celery's on Redis and SQS. A task
#: without a time limit that runs longer is delivered again (the running guard, worker/guard.py, keeps it
#: from running twice where a shared store exists); a worker that dies leaves its messages for this long.
#: Cloudflare's own consumer default (30 s) would run any task longer than 30 s twice.
DEFAULT_VISIBILITY_TIMEOUT_SECONDS = 3600

#: This project's own settings.
SHIM_SETTINGS: dict[str, Any] = {
    #: Lease length in seconds for pulled messages (Celery's ``broker_transport_options['visibility_timeout']``
    #: is read too). None: :data:`DEFAULT_VISIBILITY_TIMEOUT_SECONDS`; tasks with a time limit get longer
    #: leases when they need them.
    "broker_visibility_timeout": None,
    #: Overrides of :class:`cfq_shim.limits.Limits` fields, e.g. ``{"max_delay_seconds": 43_200}``.
    "cfq_limits": {},
    #: Deliveries of one message body before the queue dead-letters it (the queue's ``max_retries``).
    #: None: Cloudflare's default consumer setting.
    "cfq_queue_max_retries": None,
    #: Seconds between a worker's heartbeats in the control store (cfq_shim/control/heartbeat.py).
    "cfq_worker_heartbeat_seconds": 2.0,
    #: How ``.delay()`` sends: "durable", "buffered" or "outbox" (None: the broker URL's ``?producer=``).
    "cfq_producer": None,
    #: The outbox file (None: $CFQ_SHIM_OUTBOX_PATH, else $XDG_STATE_HOME/cfq-shim/outbox.sqlite3).
    "cfq_outbox_path": None,
    #: Messages the outbox holds at most; beyond, ``.delay()`` raises OutboxFull.
    "cfq_outbox_max_messages": 1_000_000,
    #: "thread": a forwarder runs in each producing process; "external": only `cfq-shim forward`.
    "cfq_outbox_forwarder": "thread",
    #: The forwarder warns while the oldest waiting message is older than this (seconds).
    "cfq_outbox_lag_warning_seconds": 30.0,
    #: Django: ``delay_on_commit``/``apply_async_on_commit`` write the message into the project's database in
    #: the caller's transaction (the app ``cfq_shim.django.outbox``; ``cfq-shim forward`` drains it).
    "cfq_transactional_outbox": False,
}

#: Every Celery 5.7 setting this shim does not act on (accepted without a warning; see docs/settings.md).
IGNORED_SETTINGS: frozenset[str] = frozenset({
    "accept_content", "arangodb_backend_settings", "azureblockblob_base_path",
    "azureblockblob_connection_timeout", "azureblockblob_container_name", "azureblockblob_read_timeout",
    "azureblockblob_retry_increment_base", "azureblockblob_retry_initial_backoff_sec",
    "azureblockblob_retry_max_attempts", "beat_enable_remote_control",
    "beat_remote_control_max_tick_age",
    "beat_sync_every", "broker_channel_error_retry", "broker_connection_max_retries",
    "broker_connection_retry", "broker_connection_retry_on_startup", "broker_connection_timeout",
    "broker_failover_strategy", "broker_heartbeat", "broker_heartbeat_checkrate", "broker_host",
    "broker_login_method", "broker_native_delayed_delivery_queue_type", "broker_password",
    "broker_pool_acquire_timeout", "broker_pool_limit", "broker_port", "broker_read_url", "broker_transport",
    "broker_use_ssl", "broker_user", "broker_vhost", "broker_write_url", "cache_backend",
    "cache_backend_options", "cassandra_auth_kwargs", "cassandra_auth_provider", "cassandra_bundle_path",
    "cassandra_entry_ttl", "cassandra_keyspace", "cassandra_options", "cassandra_port",
    "cassandra_read_consistency", "cassandra_servers", "cassandra_table", "cassandra_write_consistency",
    "control_exchange", "control_queue_durable", "control_queue_exclusive", "control_queue_expires",
    "control_queue_ttl", "cosmosdbsql_collection_name", "cosmosdbsql_consistency_level",
    "cosmosdbsql_database_name", "cosmosdbsql_max_retry_attempts", "cosmosdbsql_max_retry_wait_time",
    "couchbase_backend_settings", "database_create_tables_at_setup", "database_engine_callback",
    "database_engine_options", "database_short_lived_sessions", "database_table_names",
    "database_table_schemas", "database_url", "elasticsearch_max_retries", "elasticsearch_retry_on_timeout",
    "elasticsearch_save_meta_as_text", "elasticsearch_timeout", "event_exchange",
    "event_queue_durable", "event_queue_exclusive", "event_queue_expires", "event_queue_prefix",
    "event_queue_ttl", "event_serializer", "gcs_base_path", "gcs_bucket", "gcs_project", "gcs_ttl",
    "mongodb_backend_settings", "redis_backend_use_ssl", "redis_db", "redis_host", "redis_max_connections",
    "redis_password", "redis_port", "redis_retry_on_timeout", "redis_socket_connect_timeout",
    "redis_socket_keepalive", "redis_socket_timeout", "redis_username", "result_accept_content",
    "result_backend_always_retry", "result_backend_base_sleep_between_retries_ms",
    "result_backend_max_retries", "result_backend_max_sleep_between_retries_ms",
    "result_backend_transport_options", "result_cache_max", "result_chord_expires",
    "result_chord_join_timeout", "result_chord_retry_interval", "result_compression", "result_exchange",
    "result_exchange_type", "result_failure_expires",
    "result_persistent", "result_serializer", "s3_access_key_id", "s3_base_path", "s3_bucket",
    "s3_endpoint_url", "s3_region", "s3_secret_access_key", "security_cert_store", "security_certificate",
    "security_digest", "security_key", "security_key_password", "task_acks_on_failure",
    "task_acks_on_failure_or_timeout", "task_acks_on_timeout", "task_allow_error_cb_on_chord_header",
    "task_compression", "task_create_missing_queue_exchange_type", "task_create_missing_queue_type",
    "task_create_missing_queues", "task_default_delivery_mode", "task_default_exchange",
    "task_default_exchange_type", "task_default_priority", "task_default_queue_type",
    "task_default_routing_key", "task_inherit_parent_priority", "task_protocol", "task_publish_retry",
    "task_publish_retry_policy", "task_queue_max_priority", "task_reject_on_worker_lost",
    "task_remote_tracebacks", "task_repr_maxlevels", "task_retry_on_worker_lost", "task_send_sent_event",
    "worker_agent", "worker_autoscaler", "worker_cancel_long_running_tasks_on_connection_loss",
    "worker_consumer", "worker_deduplicate_successful_tasks", "worker_detect_quorum_queues", "worker_direct",
    "worker_disable_prefetch", "worker_enable_prefetch_count_reduction",
    "worker_enable_remote_control", "worker_enable_soft_shutdown_on_idle", "worker_eta_task_limit",
    "worker_hijack_root_logger", "worker_log_color", "worker_log_datefmt", "worker_log_format",
    "worker_lost_wait", "worker_max_memory_per_child", "worker_pool", "worker_pool_putlocks",
    "worker_pool_restarts", "worker_pool_start_method", "worker_prefetch_multiplier",
    "worker_proc_alive_timeout", "worker_redirect_stdouts", "worker_redirect_stdouts_level",
    "worker_send_task_events", "worker_soft_shutdown_timeout", "worker_state_db", "worker_task_log_datefmt",
    "worker_task_log_format", "worker_timer", "worker_timer_precision",
})

#: Celery's pre-4.0 upper-case names -> the current names (celery.app.defaults._TO_NEW_KEY).
OLD_NAMES: dict[str, str] = {
    "AZUREBLOCKBLOB_BASE_PATH": "azureblockblob_base_path",
    "AZUREBLOCKBLOB_CONNECTION_TIMEOUT": "azureblockblob_connection_timeout",
    "AZUREBLOCKBLOB_CONTAINER_NAME": "azureblockblob_container_name",
    "AZUREBLOCKBLOB_READ_TIMEOUT": "azureblockblob_read_timeout",
    "AZUREBLOCKBLOB_RETRY_INCREMENT_BASE": "azureblockblob_retry_increment_base",
    "AZUREBLOCKBLOB_RETRY_INITIAL_BACKOFF_SEC": "azureblockblob_retry_initial_backoff_sec",
    "AZUREBLOCKBLOB_RETRY_MAX_ATTEMPTS": "azureblockblob_retry_max_attempts",
    "BROKER_CHANNEL_ERROR_RETRY": "broker_channel_error_retry",
    "BROKER_CONNECTION_MAX_RETRIES": "broker_connection_max_retries",
    "BROKER_CONNECTION_RETRY": "broker_connection_retry",
    "BROKER_CONNECTION_RETRY_ON_STARTUP": "broker_connection_retry_on_startup",
    "BROKER_CONNECTION_TIMEOUT": "broker_connection_timeout",
    "BROKER_FAILOVER_STRATEGY": "broker_failover_strategy",
    "BROKER_HEARTBEAT": "broker_heartbeat",
    "BROKER_HEARTBEAT_CHECKRATE": "broker_heartbeat_checkrate",
    "BROKER_HOST": "broker_host",
    "BROKER_LOGIN_METHOD": "broker_login_method",
    "BROKER_NATIVE_DELAYED_DELIVERY_QUEUE_TYPE": "broker_native_delayed_delivery_queue_type",
    "BROKER_PASSWORD": "broker_password",
    "BROKER_POOL_ACQUIRE_TIMEOUT": "broker_pool_acquire_timeout",
    "BROKER_POOL_LIMIT": "broker_pool_limit",
    "BROKER_PORT": "broker_port",
    "BROKER_READ_URL": "broker_read_url",
    "BROKER_TRANSPORT": "broker_transport",
    "BROKER_TRANSPORT_OPTIONS": "broker_transport_options",
    "BROKER_URL": "broker_url",
    "BROKER_USER": "broker_user",
    "BROKER_USE_SSL": "broker_use_ssl",
    "BROKER_VHOST": "broker_vhost",
    "BROKER_WRITE_URL": "broker_write_url",
    "CASSANDRA_AUTH_KWARGS": "cassandra_auth_kwargs",
    "CASSANDRA_AUTH_PROVIDER": "cassandra_auth_provider",
    "CASSANDRA_BUNDLE_PATH": "cassandra_bundle_path",
    "CASSANDRA_ENTRY_TTL": "cassandra_entry_ttl",
    "CASSANDRA_KEYSPACE": "cassandra_keyspace",
    "CASSANDRA_OPTIONS": "cassandra_options",
    "CASSANDRA_PORT": "cassandra_port",
    "CASSANDRA_READ_CONSISTENCY": "cassandra_read_consistency",
    "CASSANDRA_SERVERS": "cassandra_servers",
    "CASSANDRA_TABLE": "cassandra_table",
    "CASSANDRA_WRITE_CONSISTENCY": "cassandra_write_consistency",
    "CELERYBEAT_CRON_STARTING_DEADLINE": "beat_cron_starting_deadline",
    "CELERYBEAT_ENABLE_REMOTE_CONTROL": "beat_enable_remote_control",
    "CELERYBEAT_MAX_LOOP_INTERVAL": "beat_max_loop_interval",
    "CELERYBEAT_REMOTE_CONTROL_MAX_TICK_AGE": "beat_remote_control_max_tick_age",
    "CELERYBEAT_SCHEDULE": "beat_schedule",
    "CELERYBEAT_SCHEDULER": "beat_scheduler",
    "CELERYBEAT_SCHEDULE_FILENAME": "beat_schedule_filename",
    "CELERYBEAT_SYNC_EVERY": "beat_sync_every",
    "CELERYD_AGENT": "worker_agent",
    "CELERYD_AUTOSCALER": "worker_autoscaler",
    "CELERYD_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS": "worker_cancel_long_running_tasks_on_connection_loss",
    "CELERYD_CONCURRENCY": "worker_concurrency",
    "CELERYD_CONSUMER": "worker_consumer",
    "CELERYD_DEDUPLICATE_SUCCESSFUL_TASKS": "worker_deduplicate_successful_tasks",
    "CELERYD_DETECT_QUORUM_QUEUES": "worker_detect_quorum_queues",
    "CELERYD_DISABLE_PREFETCH": "worker_disable_prefetch",
    "CELERYD_ENABLE_PREFETCH_COUNT_REDUCTION": "worker_enable_prefetch_count_reduction",
    "CELERYD_ENABLE_SOFT_SHUTDOWN_ON_IDLE": "worker_enable_soft_shutdown_on_idle",
    "CELERYD_ETA_TASK_LIMIT": "worker_eta_task_limit",
    "CELERYD_HIJACK_ROOT_LOGGER": "worker_hijack_root_logger",
    "CELERYD_LOG_COLOR": "worker_log_color",
    "CELERYD_LOG_DATEFMT": "worker_log_datefmt",
    "CELERYD_LOG_FORMAT": "worker_log_format",
    "CELERYD_MAX_MEMORY_PER_CHILD": "worker_max_memory_per_child",
    "CELERYD_MAX_TASKS_PER_CHILD": "worker_max_tasks_per_child",
    "CELERYD_POOL": "worker_pool",
    "CELERYD_POOL_PUTLOCKS": "worker_pool_putlocks",
    "CELERYD_POOL_RESTARTS": "worker_pool_restarts",
    "CELERYD_POOL_START_METHOD": "worker_pool_start_method",
    "CELERYD_PREFETCH_MULTIPLIER": "worker_prefetch_multiplier",
    "CELERYD_PROC_ALIVE_TIMEOUT": "worker_proc_alive_timeout",
    "CELERYD_SOFT_SHUTDOWN_TIMEOUT": "worker_soft_shutdown_timeout",
    "CELERYD_STATE_DB": "worker_state_db",
    "CELERYD_TASK_LOG_DATEFMT": "worker_task_log_datefmt",
    "CELERYD_TASK_LOG_FORMAT": "worker_task_log_format",
    "CELERYD_TASK_SOFT_TIME_LIMIT": "task_soft_time_limit",
    "CELERYD_TASK_TIME_LIMIT": "task_time_limit",
    "CELERYD_TIMER": "worker_timer",
    "CELERYD_TIMER_PRECISION": "worker_timer_precision",
    "CELERYD_WORKER_LOST_WAIT": "worker_lost_wait",
    "CELERY_ACCEPT_CONTENT": "accept_content",
    "CELERY_ACKS_LATE": "task_acks_late",
    "CELERY_ACKS_ON_FAILURE": "task_acks_on_failure",
    "CELERY_ACKS_ON_FAILURE_OR_TIMEOUT": "task_acks_on_failure_or_timeout",
    "CELERY_ACKS_ON_TIMEOUT": "task_acks_on_timeout",
    "CELERY_ALLOW_ERROR_CB_ON_CHORD_HEADER": "task_allow_error_cb_on_chord_header",
    "CELERY_ALWAYS_EAGER": "task_always_eager",
    "CELERY_ANNOTATIONS": "task_annotations",
    "CELERY_ARANGODB_BACKEND_SETTINGS": "arangodb_backend_settings",
    "CELERY_CACHE_BACKEND": "cache_backend",
    "CELERY_CACHE_BACKEND_OPTIONS": "cache_backend_options",
    "CELERY_COUCHBASE_BACKEND_SETTINGS": "couchbase_backend_settings",
    "CELERY_CREATE_MISSING_QUEUES": "task_create_missing_queues",
    "CELERY_CREATE_MISSING_QUEUE_EXCHANGE_TYPE": "task_create_missing_queue_exchange_type",
    "CELERY_CREATE_MISSING_QUEUE_TYPE": "task_create_missing_queue_type",
    "CELERY_DEFAULT_DELIVERY_MODE": "task_default_delivery_mode",
    "CELERY_DEFAULT_EXCHANGE": "task_default_exchange",
    "CELERY_DEFAULT_EXCHANGE_TYPE": "task_default_exchange_type",
    "CELERY_DEFAULT_PRIORITY": "task_default_priority",
    "CELERY_DEFAULT_QUEUE": "task_default_queue",
    "CELERY_DEFAULT_QUEUE_TYPE": "task_default_queue_type",
    "CELERY_DEFAULT_RATE_LIMIT": "task_default_rate_limit",
    "CELERY_DEFAULT_ROUTING_KEY": "task_default_routing_key",
    "CELERY_DISABLE_RATE_LIMITS": "worker_disable_rate_limits",
    "CELERY_EAGER_PROPAGATES_EXCEPTIONS": "task_eager_propagates",
    "CELERY_ELASTICSEARCH_MAX_RETRIES": "elasticsearch_max_retries",
    "CELERY_ELASTICSEARCH_RETRY_ON_TIMEOUT": "elasticsearch_retry_on_timeout",
    "CELERY_ELASTICSEARCH_SAVE_META_AS_TEXT": "elasticsearch_save_meta_as_text",
    "CELERY_ELASTICSEARCH_TIMEOUT": "elasticsearch_timeout",
    "CELERY_ENABLE_REMOTE_CONTROL": "worker_enable_remote_control",
    "CELERY_EVENT_EXCHANGE": "event_exchange",
    "CELERY_EVENT_QUEUE_DURABLE": "event_queue_durable",
    "CELERY_EVENT_QUEUE_EXCLUSIVE": "event_queue_exclusive",
    "CELERY_EVENT_QUEUE_EXPIRES": "event_queue_expires",
    "CELERY_EVENT_QUEUE_PREFIX": "event_queue_prefix",
    "CELERY_EVENT_QUEUE_TTL": "event_queue_ttl",
    "CELERY_EVENT_SERIALIZER": "event_serializer",
    "CELERY_IGNORE_RESULT": "task_ignore_result",
    "CELERY_IMPORTS": "imports",
    "CELERY_INCLUDE": "include",
    "CELERY_INHERIT_PARENT_PRIORITY": "task_inherit_parent_priority",
    "CELERY_MAX_CACHED_RESULTS": "result_cache_max",
    "CELERY_MESSAGE_COMPRESSION": "task_compression",
    "CELERY_MONGODB_BACKEND_SETTINGS": "mongodb_backend_settings",
    "CELERY_QUEUES": "task_queues",
    "CELERY_QUEUE_MAX_PRIORITY": "task_queue_max_priority",
    "CELERY_REDIRECT_STDOUTS": "worker_redirect_stdouts",
    "CELERY_REDIRECT_STDOUTS_LEVEL": "worker_redirect_stdouts_level",
    "CELERY_REDIS_BACKEND_USE_SSL": "redis_backend_use_ssl",
    "CELERY_REDIS_DB": "redis_db",
    "CELERY_REDIS_HOST": "redis_host",
    "CELERY_REDIS_MAX_CONNECTIONS": "redis_max_connections",
    "CELERY_REDIS_PASSWORD": "redis_password",
    "CELERY_REDIS_PORT": "redis_port",
    "CELERY_REDIS_RETRY_ON_TIMEOUT": "redis_retry_on_timeout",
    "CELERY_REDIS_SOCKET_CONNECT_TIMEOUT": "redis_socket_connect_timeout",
    "CELERY_REDIS_SOCKET_KEEPALIVE": "redis_socket_keepalive",
    "CELERY_REDIS_SOCKET_TIMEOUT": "redis_socket_timeout",
    "CELERY_REDIS_USERNAME": "redis_username",
    "CELERY_REJECT_ON_WORKER_LOST": "task_reject_on_worker_lost",
    "CELERY_REMOTE_TRACEBACKS": "task_remote_tracebacks",
    "CELERY_REPR_MAXLEVELS": "task_repr_maxlevels",
    "CELERY_RESULT_BACKEND": "result_backend",
    "CELERY_RESULT_BACKEND_ALWAYS_RETRY": "result_backend_always_retry",
    "CELERY_RESULT_BACKEND_BASE_SLEEP_BETWEEN_RETRIES_MS": "result_backend_base_sleep_between_retries_ms",
    "CELERY_RESULT_BACKEND_MAX_RETRIES": "result_backend_max_retries",
    "CELERY_RESULT_BACKEND_MAX_SLEEP_BETWEEN_RETRIES_MS": "result_backend_max_sleep_between_retries_ms",
    "CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS": "result_backend_transport_options",
    "CELERY_RESULT_CHORD_EXPIRES": "result_chord_expires",
    "CELERY_RESULT_CHORD_JOIN_TIMEOUT": "result_chord_join_timeout",
    "CELERY_RESULT_CHORD_RETRY_INTERVAL": "result_chord_retry_interval",
    "CELERY_RESULT_COMPRESSION": "result_compression",
    "CELERY_RESULT_DBURI": "database_url",
    "CELERY_RESULT_DB_SHORT_LIVED_SESSIONS": "database_short_lived_sessions",
    "CELERY_RESULT_DB_TABLENAMES": "database_table_names",
    "CELERY_RESULT_ENGINE_OPTIONS": "database_engine_options",
    "CELERY_RESULT_EXCHANGE": "result_exchange",
    "CELERY_RESULT_EXCHANGE_TYPE": "result_exchange_type",
    "CELERY_RESULT_EXTENDED": "result_extended",
    "CELERY_RESULT_FAILURE_EXPIRES": "result_failure_expires",
    "CELERY_RESULT_PERSISTENT": "result_persistent",
    "CELERY_RESULT_SERIALIZER": "result_serializer",
    "CELERY_RETRY_ON_WORKER_LOST": "task_retry_on_worker_lost",
    "CELERY_ROUTES": "task_routes",
    "CELERY_SECURITY_CERTIFICATE": "security_certificate",
    "CELERY_SECURITY_CERT_STORE": "security_cert_store",
    "CELERY_SECURITY_DIGEST": "security_digest",
    "CELERY_SECURITY_KEY": "security_key",
    "CELERY_SECURITY_KEY_PASSWORD": "security_key_password",
    "CELERY_SEND_EVENTS": "worker_send_task_events",
    "CELERY_SEND_TASK_SENT_EVENT": "task_send_sent_event",
    "CELERY_STORE_EAGER_RESULT": "task_store_eager_result",
    "CELERY_STORE_ERRORS_EVEN_IF_IGNORED": "task_store_errors_even_if_ignored",
    "CELERY_TASK_PROTOCOL": "task_protocol",
    "CELERY_TASK_PUBLISH_RETRY": "task_publish_retry",
    "CELERY_TASK_PUBLISH_RETRY_POLICY": "task_publish_retry_policy",
    "CELERY_TASK_RESULT_EXPIRES": "result_expires",
    "CELERY_TASK_SERIALIZER": "task_serializer",
    "CELERY_TIMEZONE": "timezone",
    "CELERY_TRACK_STARTED": "task_track_started",
    "CELERY_WORKER_DIRECT": "worker_direct",
    "CONTROL_EXCHANGE": "control_exchange",
    "CONTROL_QUEUE_DURABLE": "control_queue_durable",
    "CONTROL_QUEUE_EXCLUSIVE": "control_queue_exclusive",
    "CONTROL_QUEUE_EXPIRES": "control_queue_expires",
    "CONTROL_QUEUE_TTL": "control_queue_ttl",
    "COSMOSDBSQL_COLLECTION_NAME": "cosmosdbsql_collection_name",
    "COSMOSDBSQL_CONSISTENCY_LEVEL": "cosmosdbsql_consistency_level",
    "COSMOSDBSQL_DATABASE_NAME": "cosmosdbsql_database_name",
    "COSMOSDBSQL_MAX_RETRY_ATTEMPTS": "cosmosdbsql_max_retry_attempts",
    "COSMOSDBSQL_MAX_RETRY_WAIT_TIME": "cosmosdbsql_max_retry_wait_time",
    "DATABASE_CREATE_TABLES_AT_SETUP": "database_create_tables_at_setup",
    "DATABASE_ENGINE_CALLBACK": "database_engine_callback",
    "DATABASE_TABLE_SCHEMAS": "database_table_schemas",
    "ENABLE_UTC": "enable_utc",
    "GCS_BASE_PATH": "gcs_base_path",
    "GCS_BUCKET": "gcs_bucket",
    "GCS_PROJECT": "gcs_project",
    "GCS_TTL": "gcs_ttl",
    "RESULT_ACCEPT_CONTENT": "result_accept_content",
    "S3_ACCESS_KEY_ID": "s3_access_key_id",
    "S3_BASE_PATH": "s3_base_path",
    "S3_BUCKET": "s3_bucket",
    "S3_ENDPOINT_URL": "s3_endpoint_url",
    "S3_REGION": "s3_region",
    "S3_SECRET_ACCESS_KEY": "s3_secret_access_key",
}

#: Name prefixes that mark a module attribute as meant to be a setting (for unknown-name warnings).
_SETTING_PREFIXES = (
    "task_", "worker_", "broker_", "result_", "beat_", "event_", "control_", "security_", "cfq_",
)

_DEFAULTS: dict[str, Any] = {**HONOURED_SETTINGS, **SHIM_SETTINGS}
_KNOWN = frozenset(_DEFAULTS) | IGNORED_SETTINGS

#: Names already warned about in this process ("warns once").
_warned: set[str] = set()


def _warn_unknown(name: str) -> None:
    if name in _warned:
        return
    _warned.add(name)
    warnings.warn(
        f"Unknown setting {name!r}: neither Celery nor cfq_shim uses it (see docs/settings.md). "
        "Check the spelling.",
        NotConfigured,
        stacklevel=4,
    )


def _looks_like_a_setting(name: str) -> bool:
    """Lower-case names, and upper-case ones in Celery's old style (``CELERY_*``, ``BROKER_*``).

    Other upper-case names are a framework's own settings passed along whole (Flask's
    ``celery.conf.update(app.config)`` brings ``DEBUG``, ``SECRET_KEY``, ...): stored, never warned about.
    """
    if name.startswith("CELERY_") and name[len("CELERY_"):].lower() in _KNOWN:
        # A namespaced name (CELERY_BROKER_URL) set directly: Celery stores it without applying it;
        # config_from_object(..., namespace="CELERY") is what applies it.
        return False
    return name.islower() or name.startswith(("CELERY", "BROKER_"))


def canonical_name(name: str) -> str:
    """The current Celery name for ``name`` (old upper-case names translated)."""
    return OLD_NAMES.get(name, name)


def load_object(spec: str) -> Any:
    """Import ``"module"`` or ``"module:attr"`` / ``"module.attr"`` (the attribute form when the whole
    path is not a module), as Celery's ``symbol_by_name``."""
    module_name, sep, attr = spec.partition(":")
    if sep:
        module = importlib.import_module(module_name)
        try:
            return getattr(module, attr)
        except AttributeError:
            raise ImproperlyConfigured(f"Module {module_name!r} has no attribute {attr!r}") from None
    try:
        return importlib.import_module(spec)
    except ModuleNotFoundError as exc:
        parent, dot, attr = spec.rpartition(".")
        if not dot or exc.name != spec:
            raise
        module = importlib.import_module(parent)
        try:
            return getattr(module, attr)
        except AttributeError:
            raise exc from None


#: Environment variables Celery reads before the setting of the same meaning (celery/app/utils.py).
CELERY_BROKER_URL_ENVVAR = "CELERY_BROKER_URL"
CELERY_RESULT_BACKEND_ENVVAR = "CELERY_RESULT_BACKEND"
_ENVIRONMENT_OVERRIDES = {"broker_url": CELERY_BROKER_URL_ENVVAR, "result_backend": CELERY_RESULT_BACKEND_ENVVAR}


class Settings(MutableMapping[str, Any]):
    """Attribute and item access over the app's settings, with defaults.

    ``changes`` counts writes, so the app can cache derived values (routes, queues) cheaply.
    """

    def __init__(self, initial: Mapping[str, Any] | None = None) -> None:
        object.__setattr__(self, "_values", {})
        object.__setattr__(self, "changes", 0)
        #: (source, namespace, silent) given to add_source and not read yet.
        object.__setattr__(self, "_sources", [])
        if initial:
            self.update(initial)

    # -- mapping ----------------------------------------------------------------------------------
    def __getitem__(self, name: str) -> Any:
        if self._sources:
            self.read_sources()
        values = self._values
        if name in values:
            return values[name]
        name = canonical_name(name)
        if name in values:
            return values[name]
        if name in _DEFAULTS:
            return _DEFAULTS[name]
        raise KeyError(name)

    def __setitem__(self, name: str, value: Any) -> None:
        if self._sources:
            self.read_sources()  # keep the order: what was configured first is applied first
        name = canonical_name(name)
        if name not in _KNOWN and _looks_like_a_setting(name):
            _warn_unknown(name)
        if name == "task_serializer" and value not in (None, "json"):
            raise ImproperlyConfigured(
                f"task_serializer={value!r}: cfq_shim messages are JSON only (Cloudflare Queues carry text). "
                "Remove the setting or set it to 'json'."
            )
        self._values[name] = value
        object.__setattr__(self, "changes", self.changes + 1)

    def __delitem__(self, name: str) -> None:
        if self._sources:
            self.read_sources()
        del self._values[canonical_name(name)]
        object.__setattr__(self, "changes", self.changes + 1)

    def __iter__(self) -> Iterator[str]:
        if self._sources:
            self.read_sources()
        return iter({**_DEFAULTS, **self._values})

    def __len__(self) -> int:
        if self._sources:
            self.read_sources()
        return len({**_DEFAULTS, **self._values})

    def __contains__(self, name: object) -> bool:
        if self._sources:
            self.read_sources()
        return isinstance(name, str) and (canonical_name(name) in self._values or canonical_name(name) in _DEFAULTS)

    # -- attribute access -------------------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            if name in IGNORED_SETTINGS:
                return None
            raise AttributeError(f"No setting {name!r} (see docs/settings.md)") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        del self[name]

    # -- settings the environment overrides, as Celery's ``celery.app.utils.Settings`` ----------------
    # Celery 5.7 reads these variables before the configured value on *attribute* access (whatever the
    # app's namespace; an empty variable does not count); ``conf['broker_url']``/``conf.get`` return the
    # configured value. So ``CELERY_BROKER_URL=sqlite:///dev.db cfq-shim -A proj worker`` runs a project
    # whose code names ``cloudflare://`` locally, without edits.
    @property
    def broker_url(self) -> Any:
        return os.environ.get(CELERY_BROKER_URL_ENVVAR) or self.get("broker_url")

    @property
    def result_backend(self) -> Any:
        return os.environ.get(CELERY_RESULT_BACKEND_ENVVAR) or self.get("result_backend")

    @property
    def broker_read_url(self) -> Any:
        return os.environ.get("CELERY_BROKER_READ_URL") or self.get("broker_read_url") or self.broker_url

    @property
    def broker_write_url(self) -> Any:
        return os.environ.get("CELERY_BROKER_WRITE_URL") or self.get("broker_write_url") or self.broker_url

    def source_of(self, name: str) -> str:
        """Where the value of ``broker_url``/``result_backend`` comes from, for error messages: the
        environment variable's name when it overrides the setting, else ``"the setting NAME"``."""
        variable = _ENVIRONMENT_OVERRIDES.get(name)
        if variable and os.environ.get(variable):
            return f"the environment variable {variable}"
        return f"the setting {name}"

    # -- Celery's helpers -------------------------------------------------------------------------
    def get(self, name: str, default: Any = None) -> Any:
        try:
            return self[name]
        except KeyError:
            return default

    def setdefault(self, name: str, default: Any = None) -> Any:
        if canonical_name(name) not in self._values:
            self[name] = default
        return self[name]

    def changes_only(self) -> dict[str, Any]:
        """The settings set explicitly (Celery's ``conf.changes``)."""
        if self._sources:
            self.read_sources()
        return dict(self._values)

    def is_set(self, name: str) -> bool:
        if self._sources:
            self.read_sources()
        return canonical_name(name) in self._values

    def humanize(self) -> str:
        return "\n".join(f"{key}: {value!r}" for key, value in sorted(self._values.items()))

    def table(self) -> dict[str, Any]:
        return dict(self.items())

    def add_source(self, source: Any, *, namespace: str | None = None, silent: bool = False) -> None:
        """Read ``source`` (an object, a mapping, ``"module"`` or ``"module:attr"``) when a setting is first
        used, as Celery's ``config_from_object`` does: Django's settings are not touched while Django is
        still importing the project package."""
        self._sources.append((source, namespace, silent))

    @property
    def has_unread_sources(self) -> bool:
        return bool(self._sources)

    def read_sources(self) -> None:
        """Read the sources added with :meth:`add_source`, in order (an import error is raised here)."""
        pending, self._sources[:] = list(self._sources), []
        for source, namespace, silent in pending:
            named = source if isinstance(source, str) else type(source).__name__
            if isinstance(source, str):
                try:
                    source = load_object(source)
                except (ImportError, AttributeError, ImproperlyConfigured) as exc:
                    if silent:
                        continue
                    raise ConfigNotFound(f"config_from_object({named!r}): cannot load it: {exc}") from exc
            try:
                self.load_from(source, namespace=namespace)
            except Exception as exc:
                # Reading a settings object runs the project's code (Django imports DJANGO_SETTINGS_MODULE
                # here): its errors are configuration errors, named with their source, not tracebacks.
                raise ImproperlyConfigured(
                    f"config_from_object({named!r}): reading the settings failed: {type(exc).__name__}: {exc}"
                ) from exc

    def load_from(self, source: Any, *, namespace: str | None = None, silent_unknown: bool = True) -> None:
        """Read settings from a mapping or an object's attributes, as ``config_from_object`` does.

        With ``namespace='CELERY'`` only ``CELERY_*`` names count, the prefix is removed and the rest
        lower-cased (``CELERY_BROKER_URL`` -> ``broker_url``), as Celery does for Django settings.
        """
        if isinstance(source, Mapping):
            items = list(source.items())
        else:
            items = [(name, getattr(source, name)) for name in dir(source) if not name.startswith("_")]
        prefix = f"{namespace}_" if namespace else ""
        for raw_name, value in items:
            if not isinstance(raw_name, str):
                continue
            if prefix:
                if not raw_name.startswith(prefix):
                    continue
                name = raw_name[len(prefix):]
                name = OLD_NAMES.get(raw_name, OLD_NAMES.get(name, name.lower()))
            else:
                name = canonical_name(raw_name)
                if name not in _KNOWN:
                    # A module holds other names too (imports, helpers): warn only for ones shaped like settings.
                    if silent_unknown and not (name.islower() and name.startswith(_SETTING_PREFIXES)):
                        continue
            self[name] = value
