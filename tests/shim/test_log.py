"""get_task_logger: records carry the running task's id and name."""

from __future__ import annotations

import logging

from cfq_shim import Celery, get_task_logger
from cfq_shim.log import TaskFormatter


def test_task_logger_records_carry_task_id_and_name(caplog):
    app = Celery("logs", broker="memory://")
    app.conf.task_always_eager = True
    logger = get_task_logger("logs.tasks")

    @app.task
    def noisy():
        logger.warning("inside")

    with caplog.at_level(logging.INFO):
        result = noisy.delay()
        logger.warning("outside")
    inside = next(r for r in caplog.records if r.getMessage() == "inside")
    outside = next(r for r in caplog.records if r.getMessage() == "outside")
    assert (inside.task_id, inside.task_name) == (result.id, noisy.name)
    assert (outside.task_id, outside.task_name) == ("???", "???")
    assert logger.parent is logging.getLogger("celery.task")


def test_task_formatter_formats_any_record():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    text = TaskFormatter("%(task_name)s[%(task_id)s]: %(message)s").format(record)
    assert text == "???[???]: hello"
