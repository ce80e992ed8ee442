"""Differential fixtures: the same task code under real Celery 5.7 and under cfq_shim.

Four runtimes, each a fresh app with the same tasks (``define_tasks``):

- ``celery-eager``: Celery with ``task_always_eager``.
- ``celery-worker``: Celery with a real worker thread (``celery.contrib.testing.worker.start_worker``) on
  the ``memory://`` broker and the ``cache+memory://`` result backend.
- ``shim-eager``: cfq_shim with ``task_always_eager``.
- ``shim-worker``: cfq_shim with a real :class:`cfq_shim.worker.Worker` thread on ``memory://``.

Every task records what happens to it (hooks through a base Task class, signals through receivers) in
one list, so tests compare the sequence of events, return values, retry counts and exception types.
Nothing sleeps: worker runtimes wait for the events with a deadline.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable

import pytest

RUNTIMES = ["celery-eager", "celery-worker", "shim-eager", "shim-worker"]
#: Safety net only; each wait returns as soon as its condition holds.
DEADLINE_SECONDS = 15.0

_app_numbers = itertools.count()


@dataclass
class Recorder:
    """Events as (what, task, detail) tuples, in the order they happened."""

    events: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    changed: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.changed = threading.Condition(self.lock)

    def add(self, what: str, task: str, detail: Any = None) -> None:
        with self.changed:
            self.events.append((what, task.rsplit(".", 1)[-1], detail))
            self.changed.notify_all()

    def clear(self) -> None:
        with self.lock:
            self.events.clear()

    def wait_for(self, predicate: Callable[[list], bool]) -> list:
        deadline = time.monotonic() + DEADLINE_SECONDS
        with self.changed:
            while not predicate(self.events):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out; events so far: {self.events}")
                self.changed.wait(remaining)
            return list(self.events)


def define_tasks(app: Any, base_task: type, exceptions: ModuleType, recorder: Recorder) -> dict[str, Any]:
    """The task module under test, written once against Celery's API."""

    class Recording(base_task):  # the hooks real projects override
        def before_start(self, task_id, args, kwargs):
            recorder.add("before_start", self.name, self.request.retries)

        def on_success(self, retval, task_id, args, kwargs):
            recorder.add("on_success", self.name, retval)

        def on_failure(self, exc, task_id, args, kwargs, einfo):
            recorder.add("on_failure", self.name, type(exc).__name__)

        def on_retry(self, exc, task_id, args, kwargs, einfo):
            recorder.add("on_retry", self.name, type(exc).__name__ if exc else None)

        def after_return(self, status, retval, task_id, args, kwargs, einfo):
            recorder.add("after_return", self.name, status)

        def __call__(self, *args, **kwargs):
            recorder.add("__call__", self.name, list(args))
            return super().__call__(*args, **kwargs)

    @app.task(base=Recording, name=f"{app.main}.add")
    def add(x, y):
        return x + y

    @app.task(base=Recording, name=f"{app.main}.flaky", bind=True, max_retries=3, default_retry_delay=0)
    def flaky(self, succeed_on):
        if self.request.retries < succeed_on:
            raise self.retry(exc=ConnectionError(f"try {self.request.retries}"))
        return self.request.retries

    @app.task(base=Recording, name=f"{app.main}.always_fails", autoretry_for=(ValueError,), max_retries=2, retry_kwargs={"countdown": 0})
    def always_fails():
        raise ValueError("always")

    @app.task(base=Recording, name=f"{app.main}.exhausts", bind=True, max_retries=1, default_retry_delay=0)
    def exhausts(self):
        raise self.retry()

    @app.task(base=Recording, name=f"{app.main}.boom")
    def boom():
        raise KeyError("boom")

    @app.task(base=Recording, name=f"{app.main}.probe", bind=True)
    def probe(self, *args, **kwargs):
        request = self.request
        return {
            "args": list(request.args), "kwargs": dict(request.kwargs), "retries": request.retries,
            "called_directly": request.called_directly, "is_eager": bool(request.is_eager),
            "root_is_self": request.root_id == request.id, "parent_id": request.parent_id,
            "name": self.name.rsplit(".", 1)[-1],
            "headers": request.headers or {}, "tenant": getattr(request, "tenant", None),
        }

    @app.task(base=Recording, name=f"{app.main}.new_args", bind=True, max_retries=2, default_retry_delay=0)
    def new_args(self, n):
        if n < 2:
            raise self.retry(args=(n + 1,))
        return n

    @app.task(base=Recording, name=f"{app.main}.ignored")
    def ignored():
        raise exceptions.Ignore()

    @app.task(base=Recording, name=f"{app.main}.rejected")
    def rejected():
        raise exceptions.Reject("bad input", requeue=False)

    @app.task(base=Recording, name=f"{app.main}.collect")
    def collect(value, tag):
        return [value, tag]

    @app.task(base=Recording, name=f"{app.main}.mixed", bind=True, max_retries=1, default_retry_delay=0)
    def mixed(self, a, b=0, *, c=0):
        if self.request.retries == 0:
            raise self.retry(kwargs={"a": a + 10})  # only kwargs given: inherited args must not clash
        return [a, b, c]

    @app.task(name=f"{app.main}.errback_details")
    def errback_details(request, exc, traceback):
        recorder.add("errback_details", "errback_details", [type(exc).__name__, bool(request.id), traceback is not None])

    @app.task(name=f"{app.main}.errback_id")
    def errback_id(task_id):
        recorder.add("errback_id", "errback_id", isinstance(task_id, str))

    tasks = (add, flaky, always_fails, exhausts, boom, probe, new_args, ignored, rejected, collect, mixed,
             errback_details, errback_id)
    return {t.name.rsplit(".", 1)[-1]: t for t in tasks}


SIGNALS = ["task_prerun", "task_postrun", "task_success", "task_failure", "task_retry", "task_revoked"]


def _connect_signals(signals_module: ModuleType, recorder: Recorder, task_names: set[str]) -> list:
    connected = []

    def make(name: str) -> Callable:
        def receiver(sender=None, **kwargs):
            task_name = getattr(sender, "name", None) or getattr(kwargs.get("task"), "name", "")
            if not task_name and kwargs.get("request") is not None:
                task_name = getattr(kwargs["request"], "task", None) or getattr(kwargs["request"], "name", "")
            if task_name not in task_names:
                return
            if name == "task_postrun":
                detail = kwargs.get("state")
            elif name == "task_success":
                detail = kwargs.get("result")
            elif name == "task_failure":
                detail = type(kwargs["exception"]).__name__
            elif name == "task_revoked":
                detail = bool(kwargs.get("expired"))
            elif name == "task_retry":
                reason = kwargs.get("reason")
                detail = type(getattr(reason, "exc", None)).__name__ if getattr(reason, "exc", None) else None
            else:
                detail = None
            recorder.add(name, task_name, detail)

        return receiver

    for name in SIGNALS:
        signal = getattr(signals_module, name)
        receiver = make(name)
        signal.connect(receiver, weak=False)
        connected.append((signal, receiver))
    return connected


@dataclass
class Runtime:
    name: str
    app: Any
    tasks: dict[str, Any]
    recorder: Recorder
    exceptions: ModuleType
    eager: bool

    def send(self, task_name: str, args: tuple, *, runs: int = 1, **options: Any) -> list:
        """``apply_async(args, **options)``; return the events once ``runs`` task runs have ended (a
        task_postrun that is not RETRY, or a task_revoked)."""
        self.recorder.clear()

        def finished(events: list) -> bool:
            ends = sum(1 for e in events if (e[0] == "task_postrun" and e[2] != "RETRY") or e[0] == "task_revoked")
            return ends >= runs

        self.tasks[task_name].apply_async(args, **options)
        return self.recorder.wait_for(finished)

    def call(self, task_name: str, *args: Any) -> tuple[str, Any]:
        """Call the task with ``delay``; return ("ok", value) or ("raised", exception type name).

        Worker runtimes wait until the call's last task_postrun that is not RETRY, and read the value from
        the task_success / task_failure events (the shim has no result backend).
        """
        self.recorder.clear()
        task = self.tasks[task_name]
        if self.eager:
            try:
                return "ok", task.delay(*args).get()
            except Exception as exc:
                return "raised", type(exc).__name__

        def finished(events: list) -> bool:
            return any(e[0] == "task_postrun" and e[2] not in ("RETRY",) for e in events)

        task.delay(*args)
        events = self.recorder.wait_for(finished)
        for what, _, detail in events:
            if what == "task_success":
                return "ok", detail
            if what == "task_failure":
                return "raised", detail
        return "none", None


def _celery_runtime(name: str, recorder: Recorder):
    import celery
    from celery import signals

    app = celery.Celery(f"fidelity{next(_app_numbers)}", set_as_current=False)
    app.conf.update(broker_url="memory://", result_backend="cache+memory://", task_default_queue="fidelity",
                    worker_hijack_root_logger=False, broker_connection_retry_on_startup=True,
                    broker_transport_options={"polling_interval": 0.01})
    eager = name.endswith("eager")
    app.conf.task_always_eager = eager
    tasks = define_tasks(app, app.Task, celery.exceptions, recorder)
    connected = _connect_signals(signals, recorder, {t.name for t in tasks.values()})
    if eager:
        yield Runtime(name, app, tasks, recorder, celery.exceptions, eager=True)
    else:
        from celery.contrib.testing.worker import start_worker

        with start_worker(app, pool="solo", perform_ping_check=False, loglevel="ERROR", shutdown_timeout=10):
            yield Runtime(name, app, tasks, recorder, celery.exceptions, eager=False)
    for signal, receiver in connected:
        signal.disconnect(receiver)


def _shim_runtime(name: str, recorder: Recorder):
    import cfq_shim
    from cfq_shim import exceptions, signals

    app = cfq_shim.Celery(f"fidelity{next(_app_numbers)}", broker="memory://", set_as_current=False)
    app.conf.task_default_queue = "fidelity"
    eager = name.endswith("eager")
    app.conf.task_always_eager = eager
    tasks = define_tasks(app, app.Task, exceptions, recorder)
    connected = _connect_signals(signals, recorder, {t.name for t in tasks.values()})
    if eager:
        yield Runtime(name, app, tasks, recorder, exceptions, eager=True)
    else:
        from cfq_shim.worker import Worker

        worker = Worker(app, queues=["fidelity"], concurrency=1, pool="threads", max_idle_backoff_seconds=0.05)
        worker.start()
        try:
            yield Runtime(name, app, tasks, recorder, exceptions, eager=False)
        finally:
            worker.stop(warm=True)
    for signal, receiver in connected:
        signal.disconnect(receiver)


def _runtime(request, name: str):
    factory = _celery_runtime if name.startswith("celery") else _shim_runtime
    generator = factory(name, Recorder())
    runtime = next(generator)
    request.addfinalizer(lambda: next(generator, None))
    return runtime


@pytest.fixture(scope="module")
def celery_eager(request):
    return _runtime(request, "celery-eager")


@pytest.fixture(scope="module")
def shim_eager(request):
    return _runtime(request, "shim-eager")


@pytest.fixture(scope="module")
def celery_worker(request):
    return _runtime(request, "celery-worker")


@pytest.fixture(scope="module")
def shim_worker(request):
    return _runtime(request, "shim-worker")


@pytest.fixture(params=["eager", "worker"])
def pair(request):
    """(Celery runtime, shim runtime) in the same mode."""
    mode = request.param
    return request.getfixturevalue(f"celery_{mode}"), request.getfixturevalue(f"shim_{mode}")
