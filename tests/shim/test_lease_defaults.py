"""The lease of a pulled message: one hour by default (Celery's ``visibility_timeout`` on Redis), Celery's
``broker_transport_options['visibility_timeout']`` and ``broker_visibility_timeout`` honoured, and one
warning at start-up for tasks whose time limit outlives the longest lease Cloudflare allows (12 h)."""

from __future__ import annotations

import logging

import pytest

from cfq_shim import Celery
from cfq_shim.exceptions import ImproperlyConfigured
from cfq_shim.worker import Worker


def started_worker(app: Celery) -> Worker:
    return Worker(app, pool="solo").start()


@pytest.mark.parametrize(("settings", "expected_ms"), [
    ({}, 3_600_000),  # Celery on Redis: one hour
    ({"broker_transport_options": {"visibility_timeout": 7200}}, 7_200_000),  # as the codemod keeps it
    ({"broker_transport_options": {"visibility_timeout": "90"}}, 90_000),
    ({"broker_visibility_timeout": 45, "broker_transport_options": {"visibility_timeout": 7200}}, 45_000),
    ({"broker_transport_options": {"visibility_timeout": 86_400}}, 43_200_000),  # Cloudflare's 12 h at most
])
def test_the_lease_a_worker_and_a_new_queue_get(settings, expected_ms):
    app = Celery("leases", broker="memory://", set_as_current=False, **settings)

    @app.task
    def job():
        return None

    worker = started_worker(app)
    try:
        assert worker.base_visibility_timeout_ms == expected_ms
        assert app.transport.queue_settings("celery").visibility_timeout_ms == expected_ms
    finally:
        worker.stop()
    assert app.queue_settings("other").visibility_timeout_ms == expected_ms  # what provision creates


def test_a_visibility_timeout_that_is_not_a_number_is_a_clear_error():
    app = Celery("leases", broker="memory://", set_as_current=False,
                 broker_transport_options={"visibility_timeout": "one hour"})
    with pytest.raises(ImproperlyConfigured, match="visibility_timeout must be a number of seconds"):
        app.visibility_timeout_ms()


def test_one_warning_at_start_for_time_limits_past_the_longest_lease(caplog):
    app = Celery("leases", broker="memory://", set_as_current=False)

    @app.task(time_limit=13 * 3600)
    def nightly_rebuild():
        return None

    @app.task(soft_time_limit=50_000)
    def export():
        return None

    @app.task(time_limit=3600)
    def fine():
        return None

    with caplog.at_level(logging.WARNING, logger="cfq_shim.worker"):
        worker = started_worker(app)
        worker.stop()
    warnings = [record.getMessage() for record in caplog.records if "longest lease" in record.getMessage()]
    assert len(warnings) == 1
    assert f"{__name__}.nightly_rebuild (time_limit=46800s)" in warnings[0]
    assert f"{__name__}.export (soft_time_limit=50000s)" in warnings[0]
    assert "fine" not in warnings[0]
