"""The byte pre-filter keeps everything that could be Celery and drops ordinary modules."""

from __future__ import annotations

import pytest

from celery2cfq.prefilter import might_need_work


@pytest.mark.parametrize(
    "data",
    [
        b"from celery import Celery\n",
        b"import Celery\n",
        b"CELERY_BROKER_URL = 'redis://'\n",
        b"from cfq_shim import shared_task\n",
        b"from .tasks import add\nadd.delay(1)\n",  # no "celery" anywhere
        b"from .jobs import add\nadd.apply_async((1,))\n",
        b"from .jobs import add\nsig = add.s(1)\n",
        b"from .jobs import add\nsig = add.si(1)\n",
        b"from .jobs import add\nsig = add.signature((1,))\n",
        b"from proj.worker import app\n\n@app.task\ndef f(): pass\n",
        b"app.send_task('proj.add')\n",
        b"BROKER_URL = 'amqp://'\n",  # pre-4.0 config module without the word
        b"INSTALLED_APPS = ['django_celery_beat']\n",
        b"from proj.worker import app\nstats = app.control.inspect().stats()\n",
        b"from proj.worker import app\nr = app.AsyncResult(task_id)\n",
    ],
)
def test_keeps(data: bytes):
    assert might_need_work(data)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"import os\nprint(os.getcwd())\n",
        b"from django.db import models\n\nclass Order(models.Model):\n    pass\n",
        b"x = y.delayed\n",
        b"\x89PNG\r\n\x1a\n\x00\x00binary",
    ],
)
def test_drops(data: bytes):
    assert not might_need_work(data)


def test_is_case_insensitive_and_byte_based():
    assert might_need_work("# Célery: CELERY\n".encode("utf-16-le")) is False  # not ASCII bytes
    assert might_need_work(b"from CeLeRy import x")
