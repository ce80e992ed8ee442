"""A second app with no result backend, for the TASKS alias "noresults"."""
import os

from cfq_shim import Celery

app = Celery("noresults", broker=f"sqlite:///{os.environ['WORK_DIR']}/noresults-queues.sqlite3", set_as_current=False)
