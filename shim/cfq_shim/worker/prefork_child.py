"""What runs inside a prefork child: take hand-offs from the worker, run their tasks, write outcomes.

The protocol with the slot that drives this child (prefork.py) is:

- down the control pipe: a hand-off, a list of ``(body, message_id, queue, attempts, hostname, lease_id,
  soft_limit, hard_limit, lease_deadline)``, the message body as pulled (the child decodes it; the
  worker decoded it too, to decide that it runs); or None, meaning exit;
- up the data pipe (outcome_channel.py), per task and as soon as it returns:
  ``("done", index, outcome, runtime_seconds)``, where ``outcome`` None means the task was not run
  because its lease ran out while it waited in the hand-off; or, for a task that succeeded (nearly
  all of them), ``("ok", index, (result_repr, task_runtime_seconds), runtime_seconds)``: plain values
  unpickle several times faster than the outcome's objects;
- up the control pipe: ``("start", index, started_at)`` before a task with a hard time limit (the slot
  times it from there), ``("wake",)``, and ``("end", started, retiring)`` once the hand-off is over:
  tasks from index ``started`` on were not started (a warm shutdown asked this child to stop after its
  current task, or it retired), and ``retiring`` says it reached ``--max-tasks-per-child`` and exits.

Times are ``time.monotonic()``, one clock for every process of the machine. The task runs in the main
thread, so ``soft_time_limit`` is a SIGALRM whose handler raises :class:`SoftTimeLimitExceeded` in it.
The child ignores SIGINT and SIGTERM (they reach the whole process group; the worker decides when its
children stop), and exits within half a second of its worker dying, once its current task ends.
"""

from __future__ import annotations

import os
import reprlib
import signal
import time
from typing import Any

from .. import signals
from ..exceptions import SoftTimeLimitExceeded
from ..envelope import Envelope, EnvelopeError, decode
from ..execution import Delivery, Failed, Succeeded, execute
from ..loading import load_app
from ..runtime import Runtime
from .banner import configure_logging
from .outcome_channel import OutcomeWriter

__all__ = ["child_main", "succeeded_from_record", "LIVENESS_POLL_SECONDS"]

#: How often an idle child checks that its worker is alive (and a slot that its child is).
LIVENESS_POLL_SECONDS = 0.5


class _ReprResult:
    """Stands in for a task result that does not cross the pipe: the worker only logs it."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def succeeded_from_record(record: tuple[str, float]) -> Succeeded:
    """The worker's side of an ``"ok"`` record: the :class:`Succeeded` outcome it stands for."""
    result_repr, runtime_seconds = record
    return Succeeded(result=_ReprResult(result_repr), runtime_seconds=runtime_seconds)


def _decoded(body: str, message_id: str, queue: str, attempts: int, hostname: str,
             lease_id: str) -> tuple[Envelope, Delivery]:
    return decode(body), Delivery(message_id=message_id, queue=queue, attempts=attempts, hostname=hostname,
                                  lease_id=lease_id)


def _after_fork_in_child(app: Runtime) -> None:
    """Forget the transport inherited from the worker (a task that sends opens its own; a connection
    must never cross fork()), then send the app's ``on_after_fork`` as Celery does."""
    app.reset_after_fork()
    app.on_after_fork.send(sender=app)


def child_main(control: Any, data: Any, app_source: Any, max_tasks: int | None, forked: bool, log_level: int,
               stop_after_current: Any) -> None:
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

    def run_one(envelope: Any, delivery: Any, soft_seconds: float | None) -> Any:
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
        return results[0]

    signal.signal(signal.SIGALRM, on_alarm)
    signals.worker_process_init.send(sender=None)
    writer = OutcomeWriter(data.fileno(), control)
    done = 0
    parent_pid = os.getppid()
    retiring = False
    try:
        while not retiring:
            # Wait in steps: a child forked later holds a copy of this pipe's other end, so the pipe
            # alone does not tell that the worker died (kill -9). Being re-parented does.
            while not control.poll(LIVENESS_POLL_SECONDS):
                if os.getppid() != parent_pid:
                    return
            handoff = control.recv()
            if handoff is None:
                break
            started = len(handoff)
            for index, (*message, soft_seconds, hard_seconds, lease_deadline) in enumerate(handoff):
                if retiring or stop_after_current.value:
                    started = index
                    break
                began = time.monotonic()
                kind = "done"
                if began >= lease_deadline:
                    outcome = None  # its lease ran out while it waited here: not run
                else:
                    if hard_seconds:
                        writer.wake(("start", index, began))
                    try:
                        envelope, delivery = _decoded(*message)
                    except (EnvelopeError, ValueError, TypeError, KeyError) as exc:  # the worker decoded it
                        outcome = Failed(type(exc).__name__, f"the pool process could not decode the message: {exc}", "")
                    else:
                        outcome = run_one(envelope, delivery, soft_seconds)
                    done += 1
                    retiring = bool(max_tasks) and done >= max_tasks  # type: ignore[operator]
                    if isinstance(outcome, Succeeded):
                        kind, outcome = "ok", (reprlib.repr(outcome.result), outcome.runtime_seconds)
                writer.put((kind, index, outcome, time.monotonic() - began))
                writer.wake_if_due()
            writer.wake(("end", started, retiring))
    except (EOFError, OSError):
        return  # the worker is gone
    signals.worker_process_shutdown.send(sender=None, pid=os.getpid(), exitcode=0)
