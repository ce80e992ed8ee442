"""The prefork pool: ``-c`` child processes, each fed in hand-offs by one thread of the worker.

Each slot is a thread of the worker that owns one child process (prefork_child.py). It takes a
*hand-off* from the pool's local queue (its fair share of the waiting jobs, at most :data:`MAX_HANDOFF`),
sends it down the child's control pipe in one message, and settles the outcomes as the child reports
them. The child writes each outcome the moment its task returns and wakes the slot to read them in a
batch (outcome_channel.py); so a busy child never waits on the worker between tasks, and the worker
wakes about once per hand-off rather than once per task. Between two hand-offs the child does not wait
for the worker either: the outcomes read with a hand-off's end are settled (and their batch acked) after
the slot has sent the next hand-off.

The guarantees, per task:

- **hard time limit**: a task with a ``time_limit`` is announced by the child when it starts; past the
  limit the slot ends the child (SIGKILL), reads every outcome the child wrote before, reports
  ``Failed(TimeLimitExceeded)`` for that task, puts the tasks of the hand-off that had not started back
  first in line, and starts a new child.
- **soft time limit**: a SIGALRM in the child raises :class:`SoftTimeLimitExceeded` in the task.
- **a child that dies** on its own (a crash, ``os._exit``): the outcomes it wrote are settled,
  ``Failed(WorkerLostError)`` is reported for the task it was running, and the rest of its hand-off goes
  back first in line. A task that finished is never run again because a later one killed its child.
- **revoke with terminate** (``app.control.revoke(id, terminate=True)``): the child running the task gets
  the signal; one that ignores it (children ignore SIGTERM and SIGINT) is killed after
  :data:`TERMINATE_GRACE_SECONDS`. The task is reported ``Revoked(terminated=True)`` (acked, recorded
  REVOKED), the rest of the hand-off goes back first in line, and a new child starts.
- **leases**: the child skips a task whose lease ran out while it waited in the hand-off (reported
  lease-lost; it is delivered again).
- **before a hand-off**, as the other pools do before a task starts: a job whose lease ran out, whose
  twin (same task id) finished meanwhile, or that was revoked while it waited is not handed off.
- **``--max-tasks-per-child``**: a hand-off never holds more than the child has left; the child retires
  after its last one and the slot starts a fresh child.
- **warm shutdown**: :meth:`PreforkPool.take_unstarted` also tells every child (a flag in shared memory,
  read between tasks) to stop after its current task; what it had not started comes back as
  :data:`~.jobs.NOT_STARTED` and is handed back to the queue. **Cold shutdown**: the children are killed;
  nothing of their hand-offs is settled, so every message is left to its lease.

Start method: ``fork`` (default on Linux: children share the imported app, start-up is fast) or
``spawn`` (each child imports the app again from its ``-A`` spec).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from typing import Any, Callable

from ..execution import Failed, Revoked
from ..runtime import Runtime
from .jobs import LEASE_LOST, NOT_STARTED, Job
from .outcome_channel import OutcomeReader
from .pools import OnDone, QueuedPool, Runner
from .prefork_child import LIVENESS_POLL_SECONDS, child_main, succeeded_from_record

__all__ = ["PreforkPool", "MAX_HANDOFF"]

logger = logging.getLogger("cfq_shim.worker")

#: The most tasks one hand-off carries. The worker leases only ~0.1 s of recent run time per slot
#: (leases.py), so a hand-off of fast tasks is short in time however many it holds.
MAX_HANDOFF = 100


class _Slot:
    """One thread of the worker and the child process it drives."""

    def __init__(self, pool: "PreforkPool", index: int) -> None:
        self.pool = pool
        self.index = index
        self.process: Any = None
        #: The control pipe (hand-offs down; start, wake and end records up).
        self.conn: Any = None
        self._data: Any = None
        self._reader: OutcomeReader | None = None
        #: Shared with the child: set to make it stop after its current task (warm shutdown).
        self.stop_after_current: Any = None
        #: Tasks handed to the current child and not known to be skipped, for --max-tasks-per-child.
        self.tasks_in_child = 0
        #: Where the child is in its current hand-off (None between hand-offs); read by other threads
        #: for inspect().active() and revoke(terminate=True).
        self.progress: _Progress | None = None
        #: The outcomes read with a hand-off's "end", not settled yet (see _loop).
        self._deferred: tuple[_Progress, list] | None = None
        self.thread = threading.Thread(target=self._loop, name=f"cfq-shim-slot-{index + 1}", daemon=True)

    def start_child(self) -> None:
        ctx = self.pool.context
        parent_conn, child_conn = ctx.Pipe(duplex=True)
        data_reader, data_writer = ctx.Pipe(duplex=False)
        forked = ctx.get_start_method() == "fork"
        source = self.pool.app if forked else self.pool.app_spec
        self.stop_after_current = ctx.RawValue("b", 1 if self.pool.handing_back else 0)
        self.process = ctx.Process(
            target=child_main,
            args=(child_conn, data_writer, source, self.pool.max_tasks_per_child, forked,
                  logging.getLogger().getEffectiveLevel(), self.stop_after_current),
            name=f"ForkPoolWorker-{self.index + 1}",  # Celery's name, as log formats show it
            # Not daemonic: a task may start processes of its own, which daemonic processes cannot.
            daemon=False,
        )
        self.process.start()
        child_conn.close()
        data_writer.close()
        self.conn, self._data = parent_conn, data_reader
        self._reader = OutcomeReader(data_reader.fileno())
        self.tasks_in_child = 0

    def end_child(self, *, kill: bool, before_close: Callable[[], None] | None = None) -> None:
        """Stop the child (kill: SIGKILL, else ask it to exit) and wait for it; ``before_close`` runs once
        it is gone, before its pipes are closed (to read the outcomes it wrote last)."""
        process, conn, data = self.process, self.conn, self._data
        self.process = self.conn = self._data = None
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
        if before_close is not None:
            before_close()
        conn.close()
        data.close()

    def stop_after_current_task(self) -> None:
        flag = self.stop_after_current
        if flag is not None:
            flag.value = 1

    def _handoff_limit(self) -> int:
        # No more than the slot's share of leased work (leases.py: ~0.1 s of recent run time), so a
        # hand-off of slower tasks does not keep work from a child that frees up sooner.
        limit = max(1, min(MAX_HANDOFF, self.pool.slot_depth()))
        max_tasks = self.pool.max_tasks_per_child
        if max_tasks:
            # A fresh child takes the hand-off when this one has none left.
            left = max_tasks - self.tasks_in_child
            limit = min(limit, left if left > 0 else max_tasks)
        return limit

    def _loop(self) -> None:
        while True:
            if self._deferred is not None:
                # The outcomes read with the last "end" are settled once the child has its next
                # hand-off, or now when there is none to send.
                jobs = self.pool._next_jobs(self._handoff_limit(), wait=False)
                if not jobs:
                    self._settle_deferred()
                    continue
            else:
                jobs = self.pool._next_jobs(self._handoff_limit())
                if not jobs:
                    self.end_child(kill=False)
                    return
            try:
                ran = self._run(jobs)
            finally:
                self.progress = None
            if not ran:
                # A cold shutdown ended the child: what it finished before is settled; the rest of its
                # messages are left to their lease.
                self._settle_deferred()
                return

    def _settle_deferred(self) -> None:
        deferred, self._deferred = self._deferred, None
        if deferred is not None:
            self._settle(*deferred)

    def _run(self, jobs: list[Job]) -> bool:
        """Run a hand-off in the child and report every job of it. False when the pool's cold stop
        ended the child (the jobs without an outcome are then left to their lease)."""
        pool = self.pool
        handoff: list[Job] = []
        for job in jobs:
            # The worker's last word before the task starts, as in the other pools: a lease that ran
            # out, a twin that finished, a revoke that came while the job waited.
            skipped = pool.skip_before_running(job)
            if skipped is not None:
                pool._finished(job, skipped)
            else:
                handoff.append(job)
        if not handoff:
            return True
        if self.process is None or not self.process.is_alive() or (
            pool.max_tasks_per_child and self.tasks_in_child >= pool.max_tasks_per_child
        ):
            self.end_child(kill=True)
            self.start_child()
        # The pool's cold stop may end the child from another thread at any moment (end_child clears
        # self.conn): work on this child's own handles, and check which of the two ended it.
        process, conn, reader = self.process, self.conn, self._reader
        assert reader is not None
        if pool.stopped_cold:
            # Stopped cold while this slot took the jobs or started a child the stop did not see: a
            # child left running here would keep the worker's exit waiting for it.
            self.end_child(kill=True)
            pool._slot_done(len(handoff))
            return False
        self.tasks_in_child += len(handoff)
        try:
            conn.send(_handoff_records(handoff))
        except (OSError, ValueError) as exc:
            if self.conn is not conn:
                pool._slot_done(len(handoff))
                return False
            self.end_child(kill=True)
            pool._finished(handoff[0], Failed("WorkerLostError", f"could not hand the task to its process: {exc}", ""))
            pool._not_started(handoff[1:])
            return True
        self._settle_deferred()  # the child has work again: settle the last hand-off's final outcomes
        progress = _Progress(handoff)
        self.progress = progress
        while self.conn is conn:
            deadline = progress.deadline()
            wait = LIVENESS_POLL_SECONDS if deadline is None else max(0.0, min(LIVENESS_POLL_SECONDS, deadline - time.monotonic()))
            try:
                if conn.poll(wait):
                    record = conn.recv()
                    outcomes = reader.drain(alive=process.is_alive)
                    if record[0] != "end":
                        self._settle(progress, outcomes)
                    if record[0] == "start":
                        progress.started(record[1], record[2])
                    elif record[0] == "end":
                        _, started, retiring = record
                        # Settled after the next hand-off is sent (_loop), so the child does not wait
                        # for the worker to settle and ack the end of this one.
                        self._deferred = (progress, outcomes)
                        pool._not_started(handoff[started:])
                        self.tasks_in_child -= len(handoff) - started
                        if retiring:
                            self.end_child(kill=False)
                        return True
                    continue
                if deadline is None or time.monotonic() < deadline:
                    _kill_if_terminate_overdue(progress, process)
                    if not process.is_alive() and not conn.poll(0):
                        break
                    self._settle(progress, reader.drain(alive=process.is_alive))  # in case a wake-up was missed
                    continue
            except (EOFError, OSError, ValueError):
                break
            if self.conn is not conn:
                break
            # Past the hard time limit of the task the child announced, unless it has just finished.
            self._settle(progress, reader.drain(alive=process.is_alive))
            if progress.deadline() != deadline:
                continue
            job, hard = progress.running(), progress.hard_seconds()
            assert job is not None
            self.end_child(kill=True, before_close=lambda: self._settle_last(progress, reader))
            killed = progress.running()
            if killed is job:
                logger.error("Hard time limit (%ss) exceeded for %s: child %s ended", hard, job.label, process.pid)
                pool._finished(job, Failed(
                    "TimeLimitExceeded", f"TimeLimitExceeded({hard})",
                    f"The task ran past its time_limit of {hard}s; its process (pid {process.pid}) was ended.\n",
                ))
            elif killed is not None:
                # It finished as its limit struck, and the child had begun the next one.
                pool._finished(killed, Failed(
                    "WorkerLostError", f"Worker exited prematurely: its process (pid {process.pid}) was ended "
                    f"for the time limit of the task before.", "",
                ))
            pool._not_started(progress.after_running())
            return True
        if self.conn is not conn:
            # The cold stop: nothing more is settled.
            reader.discard()
            pool._slot_done(progress.unsettled())
            return False
        # The child died: settle what it finished, then report the task it was running.
        self.end_child(kill=True, before_close=lambda: self._settle_last(progress, reader))
        exitcode = process.exitcode
        job = progress.running()
        if job is not None:
            if job.terminate_signal is not None:  # app.control.revoke(terminate=True) ended it
                pool._finished(job, Revoked(terminated=True, signum=job.terminate_signal))
            else:
                pool._finished(job, Failed("WorkerLostError", f"Worker exited prematurely: exitcode {exitcode}.", ""))
            pool._not_started(progress.after_running())
        return True

    def _settle_last(self, progress: "_Progress", reader: OutcomeReader) -> None:
        """Settle the outcomes a child wrote before it ended (the pipe keeps them after its death)."""
        self._settle(progress, reader.drain(alive=lambda: False))
        reader.discard()

    def _settle(self, progress: "_Progress", records: list) -> None:
        for kind, index, outcome, runtime_seconds in records:
            job = progress.finished(index)
            # So the worker's run-time estimate is the child's, not the time the outcome waited in the pipe.
            job.started_at = time.monotonic() - runtime_seconds
            if kind == "ok":
                outcome = succeeded_from_record(outcome)
            elif outcome is None:
                self.tasks_in_child -= 1  # not run: it does not count towards --max-tasks-per-child
                outcome = LEASE_LOST
            self.pool._finished(job, outcome)


def _handoff_records(jobs: list[Job]) -> list[tuple]:
    """What crosses the pipe for each job: the message's body as it came from the queue (the child
    decodes it again: decoding there costs the worker nothing, pickling the decoded envelope cost it
    about a tenth of its time), the delivery's fields, the time limits and the lease's deadline."""
    records = []
    for job in jobs:
        message = job.message
        records.append((message.body, message.id, message.queue, message.attempts, job.hostname,
                        message.lease_id, job.soft_time_limit_seconds, job.time_limit_seconds,
                        job.batch.lease_deadline))
    return records


#: How long a child may outlive the signal of ``revoke(terminate=True)`` before it is killed. Children
#: ignore SIGTERM and SIGINT (so a warm shutdown of the worker lets their tasks finish): with those two
#: signals the task ends this long after the signal.
TERMINATE_GRACE_SECONDS = 1.0


def _kill_if_terminate_overdue(progress: "_Progress", process: Any) -> None:
    job = progress.running()
    if job is None or job.terminate_signal is None or job.terminate_requested_at is None:
        return
    if time.monotonic() - job.terminate_requested_at >= TERMINATE_GRACE_SECONDS and process.is_alive():
        try:
            os.kill(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class _Progress:
    """Where the child is in a hand-off: which jobs have outcomes, which one runs, and since when."""

    def __init__(self, handoff: list[Job]) -> None:
        self.handoff = handoff
        #: The first job without an outcome (the one running, when the child is alive).
        self.next = 0
        self._announced: tuple[int, float] | None = None
        #: When the job at ``next`` became the child's current one (the hand-off, or the outcome before).
        self.current_since = time.monotonic()

    def finished(self, index: int) -> Job:
        self.next = index + 1
        self.current_since = time.monotonic()
        return self.handoff[index]

    def started(self, index: int, started_at: float) -> None:
        self._announced = (index, started_at)

    def running(self) -> Job | None:
        return self.handoff[self.next] if self.next < len(self.handoff) else None

    def hard_seconds(self) -> float | None:
        job = self.running()
        return job.time_limit_seconds if job is not None else None

    def deadline(self) -> float | None:
        """When the running task passes its hard time limit (None: no limit, or not started yet)."""
        announced = self._announced
        if announced is None or announced[0] != self.next:
            return None
        hard = self.hard_seconds()
        return announced[1] + hard if hard else None

    def after_running(self) -> list[Job]:
        return self.handoff[self.next + 1:]

    def unsettled(self) -> int:
        return len(self.handoff) - self.next


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
        slot_depth: Callable[[], int] = lambda: MAX_HANDOFF,
        skip_before_running: Callable[[Job], Any] = lambda job: LEASE_LOST if job.lease_ran_out() else None,
    ) -> None:
        super().__init__(concurrency=concurrency, runner=runner, on_done=on_done)
        #: The outcome that stands for a job that must not start after all (None: hand it off).
        self.skip_before_running = skip_before_running
        #: How many leased messages one slot may hold now (the worker's Prefetch.depth).
        self.slot_depth = slot_depth
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
        #: Set by a warm shutdown's take_unstarted: what a child had not started goes back to the queue.
        self.handing_back = False
        self._slots = [_Slot(self, index) for index in range(self.concurrency)]

    def start(self) -> None:
        for slot in self._slots:
            slot.start_child()
        for slot in self._slots:
            slot.thread.start()

    def take_unstarted(self) -> list[Job]:
        """The jobs waiting locally; and every child is told to stop after its current task, so what it
        had not started comes back (as NOT_STARTED) to be handed back too."""
        self.handing_back = True
        for slot in self._slots:
            slot.stop_after_current_task()
        return super().take_unstarted()

    def _finished(self, job: Job, outcome: Any) -> None:
        try:
            self._on_done(job, outcome)
        finally:
            self._slot_done()

    def _not_started(self, jobs: list[Job]) -> None:
        """Jobs of a hand-off the child did not start: handed back during a warm shutdown, else first
        in line for the next free slot."""
        if not jobs:
            return
        if not self.handing_back:
            self._give_back(jobs)
            return
        for job in jobs:
            self._finished(job, NOT_STARTED)

    def running(self) -> list[tuple[Job, int, float]]:
        """``(job, child pid, running since)`` for the job each live child is running now."""
        found = []
        for slot in self._slots:
            progress, process = slot.progress, slot.process
            job = progress.running() if progress is not None else None
            if job is not None and process is not None:
                found.append((job, process.pid, progress.current_since))
        return found

    def terminate(self, job: Job, signum: int) -> bool:
        """Send ``signum`` to the child running ``job`` (revoke with ``terminate=True``); the slot then
        reports the job as revoked, hands the rest of the hand-off to another child and starts a new
        one. False when no child runs ``job`` now."""
        for running, pid, _ in self.running():
            if running is not job:
                continue
            job.terminate_signal = signum
            job.terminate_requested_at = time.monotonic()
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                return False
            logger.warning("Terminating %s (pid %s) with signal %s: revoked", job.label, pid, signum)
            return True
        return False

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
