"""The worker: pull batches, run their tasks in a pool, settle each batch with one ack call.

Threads of a running worker:

- the **consumer loop** (the caller of :meth:`Worker.run`, or a background thread after
  :meth:`Worker.start`): takes each pulled batch from the hand-off, decodes the messages, settles at once
  the ones that must not run (undecodable, unknown task, ETA still far), acks early the tasks that ask for
  it, submits the rest to the pool, and acts on shutdown requests;
- the **puller** (puller.py): leases the next batch while the current one runs;
- the **pool** (pools.py, prefork.py): runs the tasks and reports each outcome, which becomes a
  settlement (outcomes.py) of its batch; the last settlement of a batch flushes it (settlement.py).

Shutdown (shutdown.py): the first SIGTERM/SIGINT asks for a warm shutdown, the second for a cold one. The
signal handlers only set flags; this loop acts on them.
"""

from __future__ import annotations

import logging
import queue as queue_module
import socket
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable, Sequence

from .. import signals, states
from ..control.agent import ControlAgent
from ..control.heartbeat import heartbeat_seconds
from ..control.store import ControlUnavailable, control_store
from ..envelope import EnvelopeError, decode
from ..dedupe import CompletedTasks
from ..execution import (
    WORKER_FAILURES, Delivery, Expired, Failed, Ignored, Outcome, Rejected, RetryLater, Revoked, Succeeded, execute,
    record_worker_failure,
)
from ..exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from ..naming import REPLAY_HEADER, dead_letter_queue_name
from ..runtime import Runtime
from ..transport.base import LeasedMessage, QueueNotFound, QueueSettings
from .jobs import LEASE_LOST, Job, LeaseLost, NotStarted
from .leases import LEASE_MARGIN_MS, Prefetch, lease_ms_for
from .guard import DONE, GUARD_HEADER, RUNNING, RunningGuard
from .outcomes import dead_letter, hop, requeue, send_back, settlement_for
from .pools import Pool, SoloPool, ThreadPool
from .prefork import PreforkPool
from .puller import IDLE_BACKOFF_MAX_SECONDS, Puller
from .ratelimit import RateLimiter
from .revoked import record_revoked
from .settlement import ACK, NOTHING, Batch, Settlement
from .shutdown import ColdShutdown, Shutdown
from .timelimits import TimeKeeper, effective_limits
from .tracking import TaskTracker

__all__ = ["Worker", "POOLS", "ETA_TOLERANCE_SECONDS"]

logger = logging.getLogger("cfq_shim.worker")

POOLS = ("solo", "threads", "prefork")

#: How long shutdown waits for a pull in flight to return.
_PULLER_JOIN_SECONDS = 10.0

#: A message that arrives this close to its ETA runs now instead of hopping again (delays are whole seconds).
ETA_TOLERANCE_SECONDS = 1.0

def default_hostname() -> str:
    return f"celery@{socket.gethostname()}"


class Worker:
    """Consumes the app's queues (or ``queues``) and runs their tasks.

    ``run()`` blocks until shutdown and returns the exit code (0 after a warm shutdown, 1 after a cold
    one); it installs the SIGTERM/SIGINT handlers when called from the main thread. ``start()`` runs the
    same loop in a background thread (tests, embedding); ``drain()`` waits until the queues are empty and
    nothing is in flight; ``stop()`` shuts down and waits.
    """

    def __init__(
        self,
        app: Runtime,
        *,
        queues: Sequence[str] | None = None,
        concurrency: int = 1,
        pool: str = "threads",
        batch_size: int | None = None,
        visibility_timeout_ms: int | None = None,
        max_tasks_per_child: int | None = None,
        hostname: str | None = None,
        app_spec: str | None = None,
        pool_start_method: str | None = None,
        prefetch_multiplier: int | None = None,
        max_idle_backoff_seconds: float = IDLE_BACKOFF_MAX_SECONDS,
        disable_rate_limits: bool | None = None,
        rate_limit_clock: Callable[[], float] | None = None,
    ) -> None:
        if pool not in POOLS:
            raise ValueError(f"unknown pool {pool!r}: use one of {', '.join(POOLS)}")
        self.app = app
        # Celery's worker start-up: the Django checks, then the task modules (before the tasks are read).
        app.import_default_modules()
        self.queues = list(dict.fromkeys(queues)) if queues else list(app.queues())
        if not self.queues:
            raise ValueError("the worker has no queue to consume")
        self.pool_name = pool
        self.concurrency = 1 if pool == "solo" else max(1, int(concurrency))
        self.hostname = hostname or default_hostname()
        self.app_spec = app_spec
        self.max_tasks_per_child = max_tasks_per_child
        self._pool_start_method = pool_start_method
        self.prefetch_multiplier = prefetch_multiplier
        self._max_idle_backoff_seconds = max_idle_backoff_seconds
        self._requested_batch_size = batch_size
        self._requested_visibility_timeout_ms = visibility_timeout_ms
        if disable_rate_limits is None:
            disable_rate_limits = bool(app.conf.get("worker_disable_rate_limits"))
        #: Task rate limits (ratelimit.py): the buckets, and the jobs waiting for their tokens.
        self.rate_limits: RateLimiter[Job] = RateLimiter(
            clock=rate_limit_clock or time.monotonic, disabled=disable_rate_limits,
        )
        self.shutdown = Shutdown()
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        #: True once start-up is over (transport open, queues checked, pool and pullers running): an
        #: error raised after that comes from the running worker, not from its configuration.
        self.ready = False
        self._error: BaseException | None = None
        self.exit_code: int | None = None
        self.tasks_done = 0
        self._handed_back = 0
        #: Task ids that reached a final outcome lately: a second copy of one is acked without running.
        self.completed = CompletedTasks()
        self._open_batches: set[Batch] = set()
        #: ``(soft, hard)`` time limits of each task (its options, else the app's settings).
        self._limits_by_task: dict[Any, tuple[float | None, float | None]] = {}
        self._batches_lock = threading.Lock()
        self._pool: Pool | None = None
        self._puller: Puller | None = None
        #: What the worker holds and has done (inspect(), heartbeats, the dashboard).
        self.tracker = TaskTracker(self.hostname)
        #: Heartbeats, revoked ids and commands through the shared store (None: remote control is off).
        self.control_agent: ControlAgent | None = None
        #: Holds back copies of tasks still running past their lease (guard.py); None without a shared store.
        self.running_guard: RunningGuard | None = None
        #: Called once set-up is done, just before the first pull (the CLI prints its banner here).
        self.on_ready: Callable[[], None] | None = None

    # -- public API -------------------------------------------------------------------------------
    def run(self) -> int:
        """Run until shut down; return the exit code. Installs signal handlers in the main thread."""
        in_main = threading.current_thread() is threading.main_thread()
        restore = self.shutdown.install_handlers(self) if in_main else None
        try:
            self._setup()
            self.ready = True
            self._started.set()
            try:
                self.exit_code = self._loop()
            except ColdShutdown:
                self.exit_code = self._cold()
            return self.exit_code
        except BaseException as exc:
            self._error = exc
            self._release_quietly()
            raise
        finally:
            self._started.set()
            if restore is not None:
                restore()

    def start(self, *, timeout_seconds: float = 30.0) -> "Worker":
        """Run the worker in a background thread; return once it consumes (or raise what stopped it)."""
        self._thread = threading.Thread(target=self._run_quietly, name="cfq-shim-worker", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout_seconds):
            raise TimeoutError(f"the worker did not start within {timeout_seconds}s")
        if self._error is not None:
            raise self._error
        return self

    def stop(self, warm: bool = True, *, timeout_seconds: float = 60.0) -> None:
        """Shut down (warm: finish running tasks and hand back the rest) and wait for the loop to end."""
        self.shutdown.request(cold=not warm)
        if self._thread is not None and threading.current_thread() is not self._thread:
            self._thread.join(timeout_seconds)
            if self._thread.is_alive():
                raise TimeoutError(f"the worker did not stop within {timeout_seconds}s")

    def drain(self, timeout_seconds: float) -> None:
        """Wait until every queue this worker consumes is empty and nothing is in flight.

        Raises TimeoutError when that does not happen within ``timeout_seconds``, and re-raises what
        stopped the worker if it died.
        """
        deadline = time.monotonic() + timeout_seconds
        while True:
            if self._error is not None:
                raise RuntimeError("the worker stopped with an error") from self._error
            if self._idle_locally():
                stats = [self.transport.stats(name) for name in self.queues]
                if all(s.ready == 0 and s.delayed == 0 and s.in_flight == 0 for s in stats) and self._idle_locally():
                    return
            if time.monotonic() >= deadline:
                raise TimeoutError(f"the queues {self.queues} were not drained within {timeout_seconds}s")
            time.sleep(0.01)

    # -- set-up -----------------------------------------------------------------------------------
    def _run_quietly(self) -> None:
        try:
            self.run()
        except BaseException:  # noqa: BLE001 - kept in self._error for start()/drain()
            logger.exception("The worker stopped with an error")

    def _setup(self) -> None:
        app = self.app
        signals.worker_init.send(sender=self)
        self.transport = app.transport
        self.limits = self.transport.limits
        app.backend  # an unsupported result_backend stops the start here, naming the supported ones
        self._declare_queues()
        self._max_retries = {name: self._settings_of(name).max_retries for name in self.queues}
        max_pull = self.limits.max_pull_batch_size
        batch_size = self._requested_batch_size or max_pull
        if not 1 <= batch_size <= max_pull:
            raise ValueError(f"--batch-size must be between 1 and {max_pull} (got {batch_size})")
        self.batch_size = batch_size
        self.base_visibility_timeout_ms = self._base_lease_ms()
        self._per_task_seconds = self._longest_limits()
        self._warn_of_limits_past_the_longest_lease()
        for task in list(self.app.tasks.values()):
            self.rate_limits.bucket_for(task)  # an unreadable rate_limit stops the start (ValueError)
        self.prefetch = Prefetch(slots=self.concurrency, max_batch=batch_size, fixed_depth=self.prefetch_multiplier)
        self._timekeeper = TimeKeeper(soft_exception=SoftTimeLimitExceeded, hard_exception=TimeLimitExceeded)
        self._pool = self._make_pool()
        self._pool.start()
        self.control_agent = self._start_control()
        self.running_guard = self._start_guard()
        if self.pool_name != "prefork":
            # Celery sends it from each pool process; here the worker process is the pool's process.
            signals.worker_process_init.send(sender=None)
        if self.on_ready is not None:
            self.on_ready()
        self._puller = Puller(
            self.transport, self.queues, prefetch=self.prefetch, lease_ms_for=self._lease_ms_for,
            max_idle_backoff_seconds=self._max_idle_backoff_seconds,
        )
        self._puller.start()
        signals.worker_ready.send(sender=self)
        logger.info("%s ready.", self.hostname)

    def _declare_queues(self) -> None:
        """Where queues are created on use, create the worker's queues and their dead-letter queues
        with the app's consumer settings (``max_retries``, dead-letter queue, lease)."""
        transport = self.transport
        if not transport.auto_declare_queues:
            return
        for name in self.queues:
            dead_letters = dead_letter_queue_name(name)
            transport.declare_queue(dead_letters, self.app.queue_settings(dead_letters))
            transport.declare_queue(name, self.app.queue_settings(name))

    def _settings_of(self, name: str) -> QueueSettings | None:
        try:
            return self.transport.queue_settings(name)
        except QueueNotFound:
            if self.transport.auto_declare_queues:
                raise
            raise QueueNotFound(
                f"queue {name!r} does not exist; create it with `cfq-shim -A APP provision`"
            ) from None

    def _base_lease_ms(self) -> int:
        if self._requested_visibility_timeout_ms:
            return min(self._requested_visibility_timeout_ms, self.limits.max_visibility_timeout_ms)
        return self.app.visibility_timeout_ms()

    def _longest_limits(self) -> dict[str, float | None]:
        """The longest time limit among the tasks routed to each consumed queue (None: no limit);
        one pass over the tasks, each routed once."""
        longest: dict[str, float | None] = dict.fromkeys(self.queues)
        for name, task in list(self.app.tasks.items()):
            try:
                queue = self.app.queue_for(name)
            except Exception:  # noqa: BLE001 - a broken route must not stop the worker starting
                continue
            if queue not in longest:
                continue
            soft, hard = effective_limits(task, self.app.conf)
            limit = hard or soft
            current = longest[queue]
            if limit and (current is None or limit > current):
                longest[queue] = limit
        return longest

    def _warn_of_limits_past_the_longest_lease(self) -> None:
        """Once, at start-up: tasks whose time limit is longer than the longest lease Cloudflare allows
        (12 h; there is no call to extend one) may be delivered again while they still run."""
        longest_s = self.limits.max_visibility_timeout_ms / 1000
        too_long = []
        for name, task in sorted(self.app.tasks.items()):
            soft, hard = effective_limits(task, self.app.conf)
            limit = hard or soft
            if limit and limit > longest_s:
                too_long.append(f"{name} ({'time_limit' if hard else 'soft_time_limit'}={limit:g}s)")
        if too_long:
            logger.warning(
                "%s may run longer than the longest lease Cloudflare Queues allows (%gh): a run past it is "
                "delivered again (held back while the task runs where the running guard has a shared store, "
                "run a second time where it has none). Lower the limit or split the task.",
                ", ".join(too_long), longest_s / 3600,
            )

    def _lease_ms_for(self, queue: str, n: int) -> int:
        per_task = self._per_task_seconds.get(queue)
        return lease_ms_for(
            n, slots=self.concurrency, base_ms=self.base_visibility_timeout_ms,
            per_task_seconds=per_task, max_ms=self.limits.max_visibility_timeout_ms,
        )

    def _make_pool(self) -> Pool:
        if self.pool_name == "solo":
            return SoloPool(concurrency=1, runner=self._run_job, on_done=self._on_done)
        if self.pool_name == "threads":
            return ThreadPool(concurrency=self.concurrency, runner=self._run_job, on_done=self._on_done)

        return PreforkPool(
            concurrency=self.concurrency, runner=self._run_job, on_done=self._on_done, app=self.app,
            app_spec=self.app_spec, start_method=self._pool_start_method,
            max_tasks_per_child=self.max_tasks_per_child, slot_depth=self.prefetch.depth,
            skip_before_running=self._skip_before_running,
        )

    # -- the loop ---------------------------------------------------------------------------------
    def _loop(self) -> int:
        assert self._puller is not None
        handoff = self._puller.handoff
        while True:
            if self.shutdown.cold:
                return self._cold()
            if self.shutdown.warm:
                return self._warm()
            self._submit_due_jobs()
            try:
                pulled = handoff.get(timeout=self._loop_wait_seconds())
            except queue_module.Empty:
                self._flush_aging_batches()
                continue
            self._dispatch(*pulled)
            self._flush_aging_batches()

    def _new_batch(self, queue_name: str, messages: list[LeasedMessage], lease_ms: int, pulled_at: float) -> Batch:
        batch = Batch(
            queue_name, messages, lease_ms=lease_ms, transport=self.transport,
            send_many=self._send_many, on_flushed=self._forget_batch, leased_at=pulled_at,
        )
        with self._batches_lock:
            self._open_batches.add(batch)
        return batch

    def _dispatch(self, queue_name: str, messages: list[LeasedMessage], lease_ms: int, pulled_at: float) -> None:
        batch = self._new_batch(queue_name, messages, lease_ms, pulled_at)
        jobs: list[Job] = []
        for message in messages:
            job = self._prepare(message, batch)
            if job is not None:
                jobs.append(job)
        early = [job for job in jobs if _acks_early(job.task)]
        if early:
            self._ack_early(queue_name, early)
        pool = self._pool
        assert pool is not None
        admitted: list[Job] = []
        for index, job in enumerate(jobs):
            if self.shutdown.requested:
                self._hand_back(jobs[index:])
                break
            if self._admit(job):
                if pool.runs_in_caller:
                    pool.submit(job)  # solo: runs now, so a shutdown is seen between two tasks
                else:
                    admitted.append(job)
        pool.submit_many(admitted)

    # -- rate limits (ratelimit.py) ----------------------------------------------------------------
    def _admit(self, job: Job) -> bool:
        """True when ``job`` may run now; otherwise it waits for its token aside, or goes back to its
        queue with a delay when the token would come too late for its lease."""
        bucket = self.rate_limits.bucket_for(job.task)
        if bucket is None:
            return True
        reservation = bucket.reserve(max_wait_seconds=self._token_wait_allowed_seconds(job))
        if not reservation.granted:
            logger.info("Task %s rate-limited (%s): sent back to %r for %.1fs", job.label, job.task.rate_limit,
                        job.message.queue, reservation.wait_seconds)
            self._settle(job, hop(job, reservation.wait_seconds, self.limits))
            return False
        if reservation.wait_seconds <= 0:
            return True
        self.rate_limits.hold(job, wait_seconds=reservation.wait_seconds)
        return False

    def _token_wait_allowed_seconds(self, job: Job) -> float:
        """How long ``job`` may wait for a token and still run within its lease."""
        run_seconds = (job.time_limit_seconds or job.soft_time_limit_seconds
                       or self.prefetch.runtime_estimate_seconds or 0.0)
        lease_left = job.batch.lease_deadline - time.monotonic()
        return lease_left - run_seconds - LEASE_MARGIN_MS / 1000.0

    def _submit_due_jobs(self) -> None:
        pool = self._pool
        assert pool is not None
        for job in self.rate_limits.pop_due():
            if self.shutdown.requested:
                self._hand_back([job])
            else:
                pool.submit(job)

    def _loop_wait_seconds(self) -> float:
        """How long the loop may wait for a pulled batch: less when a rate-limited job is due sooner."""
        due_in = self.rate_limits.seconds_until_next()
        return 0.05 if due_in is None else min(0.05, due_in)

    def _prepare(self, message: LeasedMessage, batch: Batch) -> Job | None:
        """Decode ``message``; settle it at once when it must not run, else return its job."""
        job = Job(message=message, batch=batch, hostname=self.hostname)
        try:
            envelope = decode(message.body)
        except (EnvelopeError, ValueError, TypeError, KeyError) as exc:
            logger.error("Message %s on %r cannot be decoded (%s): dead-lettered.", message.id, message.queue, exc)
            self._settle(job, dead_letter(job, reason="undecodable", limits=self.limits,
                                          exc_type=type(exc).__name__, message=str(exc)))
            return None
        job.envelope = envelope
        task = self.app.tasks.get(envelope.task)
        if task is None:
            logger.error(
                "Received unregistered task of type %r: dead-lettered (message %s).", envelope.task, message.id
            )
            self._settle(job, dead_letter(
                job, reason="unknown-task", limits=self.limits, exc_type="NotRegistered",
                message=f"Received unregistered task of type {envelope.task!r}",
            ))
            return None
        job.task = task
        if self.completed.completed_recently(dedupe_key(envelope)):
            # A duplicate (a retried push stored twice, or a redelivery after a lost ack): done already.
            logger.info("Task %s is a duplicate of one completed lately: acked without running.", job.label)
            self._settle(job, ACK)
            return None
        if logger.isEnabledFor(logging.INFO):
            logger.info("Task %s received", job.label)
        job.delivery = Delivery(
            message_id=message.id, queue=message.queue, attempts=message.attempts,
            hostname=self.hostname, lease_id=message.lease_id,
        )
        if self._is_revoked(envelope.id):
            # Ready, delayed (its ETA hop came by) or delivered again: it never runs.
            self._finish_revoked(job)
            self._settle(job, ACK)
            return None
        guard = self.running_guard
        if guard is not None and guard.applies_to(message, envelope):
            verdict = guard.verdict(envelope.id)
            if verdict == DONE:
                logger.info("Task %s ran already (past its lease): this copy is acked without running.", job.label)
                self.completed.record_completed(dedupe_key(envelope))
                self._settle(job, ACK)
                return None
            if verdict == RUNNING:
                # A warning the first time; the same copy coming back while a long task runs is routine.
                level = logging.INFO if GUARD_HEADER in envelope.headers else logging.WARNING
                logger.log(level, "Task %s is still running on a live worker (its lease ran out): this copy is "
                           "sent back for %ss instead of running in parallel.", job.label, guard.recheck_seconds)
                self._settle(job, send_back(job, guard.held_back(envelope), guard.recheck_seconds, self.limits))
                return None
        if envelope.eta is not None:
            remaining = (envelope.eta - datetime.now(timezone.utc)).total_seconds()
            if remaining > ETA_TOLERANCE_SECONDS:
                self._settle(job, hop(job, remaining, self.limits))
                return None
        limits = self._limits_by_task.get(task)
        if limits is None:
            # Read once per task and worker: the settings lookups cost more than the rest of _prepare.
            limits = self._limits_by_task[task] = effective_limits(task, self.app.conf)
        soft, hard = limits
        job.soft_time_limit_seconds = envelope.soft_time_limit or soft
        job.time_limit_seconds = envelope.time_limit or hard
        self.tracker.accepted(job)
        return job

    def _ack_early(self, queue_name: str, jobs: list[Job]) -> None:
        try:
            self.transport.ack(queue_name, acks=[job.message.lease_id for job in jobs])
        except Exception as exc:  # noqa: BLE001 - then they are acked after running, as usual
            logger.warning("Early ack on %r failed (%s); acking after the tasks run.", queue_name, exc)
            return
        for job in jobs:
            job.acked_early = True

    def _settle(self, job: Job, settlement: Settlement, *, runtime_seconds: float | None = None) -> None:
        self.tracker.released(job)
        job.batch.settle(job.message, settlement)
        self.prefetch.release(1, runtime_seconds=runtime_seconds)

    def _hand_back(self, jobs: Sequence[Job]) -> None:
        """Give messages that have not started back to the queue at once (retry with delay 0)."""
        self._handed_back += len(jobs)
        for job in jobs:
            self._settle(job, requeue(job))

    # -- running a job (in a pool thread) ----------------------------------------------------------
    def _run_job(self, job: Job) -> Outcome | LeaseLost:
        skipped = self._skip_before_running(job)
        if skipped is not None:
            return skipped
        assert job.envelope is not None and job.delivery is not None
        envelope, delivery = job.envelope, job.delivery
        return self._timekeeper.call(
            lambda: execute(self.app, envelope, delivery),
            soft_seconds=job.soft_time_limit_seconds, hard_seconds=job.time_limit_seconds,
        )

    def _skip_before_running(self, job: Job) -> Outcome | LeaseLost | None:
        """Why ``job`` must not run after all, now that a slot is free for it (None: run it). Asked by
        every pool just before the task starts (prefork: before the job goes into a hand-off)."""
        if job.lease_ran_out():
            return LEASE_LOST
        envelope = job.envelope
        assert envelope is not None
        if self.completed.completed_recently(dedupe_key(envelope)):
            # Its twin (same task id) finished while this copy waited for a slot.
            logger.info("Task %s is a duplicate of one completed lately: acked without running.", job.label)
            return Ignored()
        if self._is_revoked(envelope.id):  # revoked while it waited for a slot (or a rate-limit token)
            return Revoked()
        return None

    def _on_done(self, job: Job, outcome: Outcome | LeaseLost | NotStarted) -> None:
        if isinstance(outcome, NotStarted):
            self._hand_back([job])
            return
        runtime = time.monotonic() - job.started_at if job.started_at is not None else None
        if isinstance(outcome, LeaseLost):
            logger.warning("Task %s not started: its lease ran out while it waited; it will be delivered again.",
                           job.label)
            self._settle(job, NOTHING)
            return
        try:
            if isinstance(outcome, Revoked):
                self._finish_revoked(job, terminated=outcome.terminated, signum=outcome.signum)
            else:
                self.tracker.finished(job, _state_of(outcome))
            self._log_outcome(job, outcome)
            if isinstance(outcome, Failed) and job.envelope is not None and outcome.exc_type in WORKER_FAILURES:
                record_worker_failure(self.app, job.envelope, outcome.exc_type, outcome.message, self.hostname)
            settlement = settlement_for(outcome, job, limits=self.limits, max_retries_of=self._max_retries_of)
        except Exception:  # noqa: BLE001 - never lose the message over a logging or encoding bug
            logger.exception("Could not settle %s; it will be delivered again after its lease.", job.label)
            settlement = NOTHING
        self.tasks_done += 1
        if job.envelope is not None and not isinstance(outcome, RetryLater) and not (
            isinstance(outcome, Rejected) and outcome.requeue
        ):
            self.completed.record_completed(dedupe_key(job.envelope))
            if self.running_guard is not None and job.lease_ran_out():
                # Copies delivered while it ran past its lease are acked without running (guard.py);
                # marked before the settle, while the heartbeat still lists the task as active.
                self.running_guard.record_done(job.envelope.id)
        self._settle(job, settlement, runtime_seconds=runtime)

    def _max_retries_of(self, queue_name: str) -> int:
        return self._max_retries.get(queue_name, self.limits.default_max_retries)

    def _log_outcome(self, job: Job, outcome: Outcome) -> None:
        # ``execute`` logs what the task did (succeeded, retry, raised) as Celery's tracer does; the
        # worker adds what it does with the message.
        if isinstance(outcome, Failed):
            if outcome.exc_type == "WorkerLostError":
                logger.error("Task %s: %s", job.label, outcome.message)
            logger.info("Task %s dead-lettered to %r (%s)", job.label,
                        dead_letter_queue_name(job.message.queue), outcome.exc_type)
        elif isinstance(outcome, Rejected) and not outcome.requeue:
            logger.info("Task %s rejected: dead-lettered to %r", job.label, dead_letter_queue_name(job.message.queue))

    # -- batches ----------------------------------------------------------------------------------
    def _send_many(self, items: Sequence[tuple[str, str, int]]) -> None:
        self.app.producer.send_many(items)

    def _forget_batch(self, batch: Batch) -> None:
        with self._batches_lock:
            self._open_batches.discard(batch)

    def _flush_aging_batches(self) -> None:
        """Flush what is settled in batches that have used two thirds of their lease."""
        now = time.monotonic()
        with self._batches_lock:
            aging = [b for b in self._open_batches if now >= b.leased_at + (b.lease_deadline - b.leased_at) * 2 / 3]
        for batch in aging:
            batch.flush_settled()

    def _idle_locally(self) -> bool:
        assert self._puller is not None or not self._started.is_set()
        if self._puller is None:
            return False
        return self.prefetch.outstanding == 0 and self._puller.handoff.empty()

    # -- remote control (cfq_shim/control/) -------------------------------------------------------------
    def _start_control(self) -> ControlAgent | None:
        try:
            store = control_store(self.app)
        except ControlUnavailable as exc:
            logger.info("Remote control is off: %s", exc)
            return None
        agent = ControlAgent(self, store, interval_seconds=heartbeat_seconds(self.app.conf))
        try:
            agent.start()
        except Exception as exc:  # noqa: BLE001 - the worker runs tasks without it
            logger.warning("Remote control is off: its store %s cannot be used (%s)", store.describe(), exc)
            return None
        return agent

    def _start_guard(self) -> RunningGuard | None:
        """The running guard (guard.py) reads the heartbeats the control agent writes: none without it."""
        agent = self.control_agent
        if agent is None:
            logger.info("No running guard: a task that outlives its lease (%ss) may run twice. Set result_backend "
                        "so that workers share a store.", self.base_visibility_timeout_ms // 1000)
            return None
        return RunningGuard(agent.store, hostname=self.hostname, limits=self.limits,
                            lease_ms=self.base_visibility_timeout_ms)

    def _stop_control(self) -> None:
        agent, self.control_agent = self.control_agent, None
        if agent is not None:
            agent.stop()

    def _is_revoked(self, task_id: str) -> bool:
        agent = self.control_agent
        return agent is not None and agent.is_revoked(task_id)

    def _finish_revoked(self, job: Job, *, terminated: bool = False, signum: int | None = None) -> None:
        record_revoked(self.app, job, terminated=terminated, signum=signum)
        self.tracker.finished(job, states.REVOKED)
        if job.envelope is not None:
            self.completed.record_completed(dedupe_key(job.envelope))

    # What the control agent calls (control/agent.py: ControlledWorker).
    def child_pids(self) -> list[int]:
        pool = self._pool
        return list(pool.child_pids()) if pool is not None and hasattr(pool, "child_pids") else []

    def transport_scheme(self) -> str:
        return getattr(self.transport, "scheme", "")

    def requests(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """``(active, reserved)``: Celery's request infos of the tasks running and the ones held."""
        pool = self._pool
        return self.tracker.requests(pool.running() if pool is not None else [])

    def terminate_task(self, task_id: str, signum: int) -> bool:
        """End the process running ``task_id`` with ``signum`` (prefork only); False when it is not
        running here or the pool cannot end one task (threads, solo: the task runs to its end)."""
        pool = self._pool
        if pool is None:
            return False
        for job, _, _ in pool.running():
            if job.envelope is None or job.envelope.id != task_id:
                continue
            if pool.terminate(job, signum):
                return True
            logger.warning("Cannot terminate %s: the %s pool runs tasks inside the worker process, where one "
                           "task cannot be ended alone; it runs to its end (revoked tasks not started are "
                           "skipped).", job.label, self.pool_name)
            return False
        return False

    def request_shutdown(self) -> None:
        self.shutdown.request(cold=False)

    def set_rate_limit(self, task_name: str, rate_limit: Any) -> None:
        task = self.app.tasks[task_name]
        task.rate_limit = rate_limit
        self.rate_limits.forget(task_name)
        self.rate_limits.bucket_for(task)  # an unreadable rate raises here, into the command's reply

    def set_time_limit(self, task_name: str, soft: float | None, hard: float | None) -> None:
        task = self.app.tasks[task_name]
        task.soft_time_limit = soft
        task.time_limit = hard

    def add_queue(self, queue: str) -> bool:
        if queue in self.queues:
            return False
        if self.transport.auto_declare_queues:
            self.transport.declare_queue(dead_letter_queue_name(queue), self.app.queue_settings(dead_letter_queue_name(queue)))
            self.transport.declare_queue(queue, self.app.queue_settings(queue))
        self._max_retries[queue] = self._settings_of(queue).max_retries
        self._per_task_seconds.setdefault(queue, None)
        self.queues = self.queues + [queue]
        assert self._puller is not None
        self._puller.set_queues(self.queues)
        return True

    def cancel_queue(self, queue: str) -> bool:
        if queue not in self.queues or len(self.queues) == 1:
            return False
        self.queues = [q for q in self.queues if q != queue]
        assert self._puller is not None
        self._puller.set_queues(self.queues)
        return True

    # -- shutdown ---------------------------------------------------------------------------------
    def _warm(self) -> int:
        logger.warning("worker: Warm shutdown (%s)", self.hostname)
        puller, pool = self._puller, self._pool
        assert puller is not None and pool is not None
        puller.request_stop()
        while not puller.stopped or not puller.handoff.empty():
            if self.shutdown.cold:
                return self._cold()
            try:
                pulled = puller.handoff.get(timeout=0.05)
            except queue_module.Empty:
                continue
            batch = self._new_batch(*pulled)
            self._hand_back([Job(message=m, batch=batch, hostname=self.hostname) for m in batch.messages])
        self._hand_back(self.rate_limits.take_all())
        self._hand_back(pool.take_unstarted())
        logger.info("Handed back %d leased message(s) that had not started; waiting for %d running task(s).",
                    self._handed_back, pool.busy)
        while pool.busy:
            if self.shutdown.cold:
                return self._cold()
            pool.join(timeout_seconds=0.05)
            self._flush_aging_batches()
        pool.stop(cold=False)
        puller.join(_PULLER_JOIN_SECONDS)
        self._finish()
        return 0

    def _cold(self) -> int:
        logger.warning("worker: Cold shutdown (%s)", self.hostname)
        if self._puller is not None:
            self._puller.request_stop(abandon=True)
        if self._pool is not None:
            self._pool.stop(cold=True)
        if self._puller is not None:
            # Its pull in flight ends quickly; after this nothing of the worker touches the transport
            # (except tasks still running in threads, which a cold shutdown cannot stop).
            self._puller.join(_PULLER_JOIN_SECONDS)
        self._finish()
        return 1

    def _release_quietly(self) -> None:
        """After an error: stop the puller and the pool (children included) so the process can exit."""
        try:
            if self._puller is not None:
                self._puller.request_stop(abandon=True)
            if self._pool is not None:
                self._pool.stop(cold=True)
            self._stop_control()
        except Exception:  # noqa: BLE001 - the original error is the one to report
            logger.exception("Could not release the worker's threads and processes")

    def _finish(self) -> None:
        self._timekeeper.close()
        self._stop_control()
        signals.worker_shutdown.send(sender=self)


_STATES = {Succeeded: states.SUCCESS, Failed: states.FAILURE, RetryLater: states.RETRY, Rejected: states.REJECTED,
           Ignored: states.IGNORED, Expired: states.REVOKED, Revoked: states.REVOKED}


def _state_of(outcome: Outcome) -> str:
    """The task state an outcome stands for (the dashboard's recent tasks and counters)."""
    return _STATES.get(type(outcome), states.FAILURE)


def dedupe_key(envelope: Any) -> str:
    """What duplicate detection compares: the task id, plus the replay mark ``cfq-shim dlq replay`` puts in
    the headers, so a replayed dead letter runs even where the worker remembers its failure."""
    replay = envelope.headers.get(REPLAY_HEADER) if envelope.headers else None
    return f"{envelope.id}#{replay}" if replay else envelope.id


def _acks_early(task: Any) -> bool:
    """True when the task asked for Celery's early ack by setting ``acks_late=False`` itself.

    The project's default is to ack after running (at-least-once); only an explicit ``acks_late=False``
    on the task (decorator option or class attribute) acks before running. A value the task took from
    ``task_acks_late`` (whose default is False) does not count.
    """
    if getattr(task, "acks_late", None) is not False:
        return False
    return "acks_late" not in task.__dict__.get("_from_config_attrs", ())
