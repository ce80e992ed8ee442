"""get_task_logger: records carry the running task's id and name."""

from __future__ import annotations

import logging

from cfq_shim import Celery, get_task_logger
from cfq_shim.log import TaskFormatter


class Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)


def test_task_logger_records_carry_task_id_and_name():
    app = Celery("logs", broker="memory://")
    app.conf.task_always_eager = True
    logger = get_task_logger("logs.tasks")
    collect = Collect()
    logger.addHandler(collect)  # directly on the logger: other tests may reconfigure propagation
    logger.setLevel(logging.INFO)  # ... and the level of celery.task (a worker's -l), which it inherits

    @app.task
    def noisy():
        logger.warning("inside")

    try:
        result = noisy.delay()
        logger.warning("outside")
    finally:
        logger.removeHandler(collect)
        logger.setLevel(logging.NOTSET)
    inside = next(r for r in collect.records if r.getMessage() == "inside")
    outside = next(r for r in collect.records if r.getMessage() == "outside")
    assert (inside.task_id, inside.task_name) == (result.id, noisy.name)
    assert (outside.task_id, outside.task_name) == ("???", "???")
    assert logger.parent is logging.getLogger("celery.task")


def test_task_formatter_formats_any_record():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    text = TaskFormatter("%(task_name)s[%(task_id)s]: %(message)s").format(record)
    assert text == "???[???]: hello"
