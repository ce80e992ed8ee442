"""The prefork pool: ``-c`` child processes, each fed by one thread of the worker over a pipe.

Each slot is a thread of the worker that owns one child process. It takes the next job from the pool's
local queue, sends ``(envelope, delivery, soft_limit)`` down the pipe, and waits for the outcome. That
keeps the hard time limit simple and exact: the slot waits at most ``time_limit`` seconds, then ends the
child (SIGKILL), reports ``Failed(TimeLimitExceeded)`` and starts a new child. A child that dies on its
own (a crash, ``os._exit``) is reported as ``Failed(WorkerLostError)``.

Inside a child the task runs in the main thread, so ``soft_time_limit`` is a SIGALRM whose handler raises
:class:`SoftTimeLimitExceeded` in the task. Children ignore SIGINT and SIGTERM (a Ctrl-C or a
``systemctl stop`` reaches the whole process group): the worker decides when they stop, and a child
whose worker died (even by SIGKILL) notices within half a second once its current task ends, and exits.

Start method: ``fork`` (default on Linux: children share the imported app, start-up is fast) or
``spawn`` (each child imports the app again from its ``-A`` spec). ``--max-tasks-per-child`` retires a
child after that many tasks; its slot starts a fresh one.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import reprlib
import signal
import threading
import time
from typing import Any

from .. import signals
from ..exceptions import SoftTimeLimitExceeded
from ..execution import Failed, Succeeded, execute
from ..loading import load_app
from ..runtime import Runtime
from .banner import configure_logging
from .jobs import LEASE_LOST, Job
from .pools import OnDone, QueuedPool, Runner

__all__ = ["PreforkPool"]

logger = logging.getLogger("cfq_shim.worker")

#: How often a slot waiting on a child checks that the child is alive, and an idle child that the worker is.
_LIVENESS_POLL_SECONDS = 0.5


class _ReprResult:
    """Stands in for a task result that does not cross the pipe: the worker only logs it."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _after_fork_in_child(app: Runtime) -> None:
    """Forget the transport inherited from the worker (a task that sends opens its own; a connection
    must never cross fork()), then send the app's ``on_after_fork`` as Celery does."""
    app.reset_after_fork()
    app.on_after_fork.send(sender=app)


def _child_main(conn: Any, app_source: Any, max_tasks: int | None, forked: bool, log_level: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

    if isinstance(app_source, str):

        configure_logging(log_level)  # a spawned child starts without the worker's logging
        app = load_app(app_source)
    else:
        app = app_source
    if forked:
        _after_fork_in_child(app)
    in_task = [False]

    def on_alarm(signum: int, frame: Any) -> None:
        if in_task[0]:
            raise SoftTimeLimitExceeded("soft time limit exceeded")

    signal.signal(signal.SIGALRM, on_alarm)
    signals.worker_process_init.send(sender=None)
    done = 0
    parent_pid = os.getppid()
    while True:
        try:
            # Wait in steps: a child forked later holds a copy of this pipe's other end, so the pipe
            # alone does not tell that the worker died (kill -9). Being re-parented does.
            while not conn.poll(_LIVENESS_POLL_SECONDS):
                if os.getppid() != parent_pid:
                    return
            request = conn.recv()
        except (EOFError, OSError):
            break
        if request is None:
            break
        envelope, delivery, soft_seconds = request
        results: list[Any] = []
        for _ in range(3):
            try:
                if not results:
                    if soft_seconds:
                        signal.setitimer(signal.ITIMER_REAL, soft_seconds)
                    in_task[0] = True
                    results.append(execute(app, envelope, delivery))
                in_task[0] = False
                signal.setitimer(signal.ITIMER_REAL, 0)
                break
            except SoftTimeLimitExceeded:
                # The alarm landed just after the task returned: its outcome stands.
                if not results:
                    raise
        outcome = results[0]
        if isinstance(outcome, Succeeded):
            outcome = Succeeded(result=_ReprResult(reprlib.repr(outcome.result)),
                                runtime_seconds=outcome.runtime_seconds)
        done += 1
        retiring = bool(max_tasks) and done >= max_tasks  # type: ignore[operator]
        try:
            conn.send((outcome, retiring))
        except (EOFError, OSError):
            break
        if retiring:
            break
    signals.worker_process_shutdown.send(sender=None, pid=os.getpid(), exitcode=0)


#: What a slot's run returns when the pool itself ended the child (cold shutdown): no outcome to settle.
_ENDED_BY_POOL = object()


class _Slot:
    """One thread of the worker and the child process it drives."""

    def __init__(self, pool: "PreforkPool", index: int) -> None:
        self.pool = pool
        self.index = index
        self.process: Any = None
        self.conn: Any = None
        self.thread = threading.Thread(target=self._loop, name=f"cfq-shim-slot-{index + 1}", daemon=True)

    def start_child(self) -> None:
        ctx = self.pool.context
        parent_conn, child_conn = ctx.Pipe(duplex=True)
        forked = ctx.get_start_method() == "fork"
        source = self.pool.app if forked else self.pool.app_spec
        self.process = ctx.Process(
            target=_child_main,
            args=(child_conn, source, self.pool.max_tasks_per_child, forked, logging.getLogger().getEffectiveLevel()),
            name=f"ForkPoolWorker-{self.index + 1}",  # Celery's name, as log formats show it
            # Not daemonic: a task may start processes of its own, which daemonic processes cannot.
            daemon=False,
        )
        self.process.start()
        child_conn.close()
        self.conn = parent_conn

    def end_child(self, *, kill: bool) -> None:
        process, conn = self.process, self.conn
        self.process = self.conn = None
        if process is None:
            return
        if kill and process.is_alive():
            try:
                os.kill(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        elif not kill:
            try:
                conn.send(None)
            except (OSError, ValueError):
                pass
        process.join(timeout=None if not kill else 5)
        conn.close()

    def _loop(self) -> None:
        while True:
            job = self.pool._next_job()
            if job is None:
                self.end_child(kill=False)
                return
            outcome = self._run(job)
            if outcome is _ENDED_BY_POOL:
                # A cold shutdown ended the child: nothing is settled, the message is left to its lease.
                self.pool._slot_done()
                return
            self.pool._finished(job, outcome)

    def _run(self, job: Job) -> Any:

        if job.lease_ran_out():
            return LEASE_LOST
        job.started_at = time.monotonic()
        if self.process is None or not self.process.is_alive():
            self.end_child(kill=True)
            self.start_child()
        # The pool's cold stop may end the child from another thread at any moment (end_child clears
        # self.conn): work on this child's own handles, and check which of the two ended it.
        process, conn = self.process, self.conn
        if self.pool.stopped_cold:
            # Stopped cold while this slot took the job or started a child the stop did not see: a
            # child left running here would keep the worker's exit waiting for it.
            self.end_child(kill=True)
            return _ENDED_BY_POOL
        try:
            conn.send((job.envelope, job.delivery, job.soft_time_limit_seconds))
        except (OSError, ValueError) as exc:
            if self.conn is not conn:
                return _ENDED_BY_POOL
            self.end_child(kill=True)
            return Failed("WorkerLostError", f"could not hand the task to its process: {exc}", "")
        hard = job.time_limit_seconds
        deadline = job.started_at + hard if hard else None
        while self.conn is conn:
            wait = _LIVENESS_POLL_SECONDS if deadline is None else max(0.0, min(_LIVENESS_POLL_SECONDS, deadline - time.monotonic()))
            try:
                if conn.poll(wait):
                    outcome, retiring = conn.recv()
                    if retiring:
                        self.end_child(kill=False)
                    return outcome
                if deadline is None or time.monotonic() < deadline:
                    if not process.is_alive() and not conn.poll(0):
                        break
                    continue
            except (EOFError, OSError, ValueError):
                break
            if self.conn is not conn:
                break
            self.end_child(kill=True)
            logger.error("Hard time limit (%ss) exceeded for %s: child %s ended", hard, job.label, process.pid)
            return Failed(
                "TimeLimitExceeded", f"TimeLimitExceeded({hard})",
                f"The task ran past its time_limit of {hard}s; its process (pid {process.pid}) was ended.\n",
            )
        if self.conn is not conn:
            return _ENDED_BY_POOL
        exitcode = process.exitcode
        self.end_child(kill=True)
        return Failed(
            "WorkerLostError",
            f"Worker exited prematurely: exitcode {exitcode}.",
            "",
        )


class PreforkPool(QueuedPool):
    name = "prefork"

    def __init__(
        self,
        *,
        concurrency: int,
        runner: Runner,
        on_done: OnDone,
        app: Runtime,
        app_spec: str | None = None,
        start_method: str | None = None,
        max_tasks_per_child: int | None = None,
    ) -> None:
        super().__init__(concurrency=concurrency, runner=runner, on_done=on_done)
        method = start_method or ("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
        if method != "fork" and not app_spec:
            raise ValueError(
                f"the prefork pool with the {method!r} start method imports the app again in each child: "
                "give the app's -A spec (Worker(app_spec=...))"
            )
        self.context = multiprocessing.get_context(method)
        self.app = app
        self.app_spec = app_spec
        self.max_tasks_per_child = max_tasks_per_child
        #: Set by a cold stop before it ends the children: from then on no slot runs or starts one.
        self.stopped_cold = False
        self._slots = [_Slot(self, index) for index in range(self.concurrency)]

    def start(self) -> None:
        for slot in self._slots:
            slot.start_child()
        for slot in self._slots:
            slot.thread.start()

    def _finished(self, job: Job, outcome: Any) -> None:
        try:
            self._on_done(job, outcome)
        finally:
            self._slot_done()

    def child_pids(self) -> list[int]:
        return [slot.process.pid for slot in self._slots if slot.process is not None]

    def stop(self, *, cold: bool = False) -> None:
        self._close()
        if cold:
            self.stopped_cold = True
            for slot in self._slots:
                slot.end_child(kill=True)
            return
        for slot in self._slots:
            slot.thread.join()
