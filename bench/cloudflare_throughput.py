"""Throughput of cfq_shim over Cloudflare's REST API (the local stand-in), against Celery 5.7 on Redis.

    python bench/cloudflare_throughput.py [--tasks 20000] [--latencies 0,50] [--skip-celery]

For each ``--latency-ms`` of the stand-in (run as a subprocess: ``python -m cfq_shim emulator``), with
the app's queue provisioned (``cfq_shim.provision``) and N trivial tasks:

- **bulk enqueue**: N tasks sent group-style (``app.producer.send_many``: bulk pushes of up to 100
  messages / 256 KB), tasks per second, from a fresh process;
- **.delay() enqueue**: a sample sent with ``.delay()`` from 64 threads (concurrent calls coalesce into
  shared bulk pushes), from 1 thread (one round trip per call: the durable default's cost), from
  1 thread with the opt-in ``?producer=buffered`` (timed up to ``app.producer.flush()``), and from 1 thread
  with ``?producer=outbox`` (durable on local disk: the rate, the p50/p99 latency of one call, the bulk
  pushes per 1,000 messages, and how long after the last call the outbox was empty: issue 11's four
  targets, printed at the end against their bounds with the ratio to the durable 1-thread rate, and the
  process's CPU per message, a figure the machine's load hardly moves);
- **drain**: one worker process (``cfq-shim worker -P threads``) on the full queue, from its first task
  to its last (start-up excluded), tasks per second;
- **HTTP requests per 1,000 tasks**, counted by the stand-in (``GET /__stand-in/stats``): pushes for
  the enqueue, pulls and acks for the drain (the floor is 30: 10 bulk pushes, 10 pulls, 10 acks).

The Celery + Redis reference reuses bench/shim_throughput.py's harness (``.delay()`` enqueue and drain of
``-P solo`` and ``-P prefork -c 2``; Redis on loopback, no added latency). Results are printed and
written to bench/results/cloudflare_throughput.json, with the 1-minute load average at the start and the end
(tail latencies grow with the load of a shared machine). Needs the ``bench`` extra for the reference.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from shim_throughput import SHIM_APP, Workspace, celery_runs  # noqa: E402 - the sibling harness

RESULTS = Path(__file__).parent / "results" / "cloudflare_throughput.json"
ACCOUNT = "b" * 32
#: Worker flags for the drain. Threads: trivial tasks, and the pool the HTTP round trips suit.
WORKER_FLAGS = ["-P", "threads", "-c", "8"]
DELAY_THREADS = 64

ENQUEUE = """
import sys, threading, time, uuid
sys.path.insert(0, sys.argv[1])
from benchapp import app, noop
from cfq_shim.envelope import Envelope, encode

mode, count = sys.argv[2], int(sys.argv[3])
queue = app.queue_for(noop.name)
noop.delay(-1)  # connect and resolve the queue outside the timing
if mode == "bulk":
    started = time.perf_counter()
    items = [(queue, encode(Envelope(id=str(uuid.uuid4()), task=noop.name, args=[n], queue=queue)), 0)
             for n in range(count)]
    app.producer.send_many(items)
elif mode == "delay-threads":
    threads = int(sys.argv[4])
    per_thread = count // threads
    def run(first):
        for n in range(first, first + per_thread):
            noop.delay(n)
    workers = [threading.Thread(target=run, args=(t * per_thread,)) for t in range(threads)]
    started = time.perf_counter()
    for w in workers: w.start()
    for w in workers: w.join()
    count = per_thread * threads
elif mode == "delay-outbox":
    producer = app.producer
    producer.flush(60)  # the warm-up call's push, outside the timing
    latencies = []
    clock = time.perf_counter
    cpu_before = time.process_time()
    started = clock()
    for n in range(count):
        before = clock()
        noop.delay(n)
        latencies.append(clock() - before)
    last_call = clock()
    producer.flush(120)  # until the forwarder emptied the outbox (Cloudflare accepted every message)
    drained = clock() - last_call
    # CPU of the whole process (the calling thread and the forwarder's) per message: unlike the
    # latencies, this hardly moves with the machine's load.
    cpu_us = (time.process_time() - cpu_before) / count * 1e6
    latencies.sort()
    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
    print(count, last_call - started, f"{p50 * 1000:.3f}", f"{p99 * 1000:.3f}", f"{drained:.3f}", f"{cpu_us:.1f}")
    raise SystemExit(0)
else:
    started = time.perf_counter()
    for n in range(count):
        noop.delay(n)
    if mode == "delay-buffered":
        app.producer.flush()  # counted: the rate is of tasks Cloudflare accepted
print(count, time.perf_counter() - started)
"""


class StandIn:
    """``python -m cfq_shim emulator`` in a subprocess, on a free port."""

    def __init__(self, db: Path, latency_ms: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cfq_shim", "emulator", "--port", "0", "--db", str(db),
             "--latency-ms", str(latency_ms)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        line = self.process.stdout.readline()
        if "CLOUDFLARE_BASE_URL=" not in line:
            self.stop()
            raise RuntimeError(f"the stand-in did not start: {line!r}")
        self.base_url = line.strip().split("CLOUDFLARE_BASE_URL=", 1)[1]

    def counts(self) -> dict[str, int]:
        root = self.base_url.rsplit("/client/v4", 1)[0]
        with urllib.request.urlopen(f"{root}/__stand-in/stats", timeout=30) as answer:
            return json.load(answer)["requests"]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def diff(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: after.get(k, 0) - before.get(k, 0) for k in set(after) | set(before) if after.get(k, 0) != before.get(k, 0)}


def per_thousand(requests: int, tasks: int) -> float:
    return round(requests * 1000 / tasks, 1)


def _run_enqueue(ws: Workspace, mode: str, count: int, *extra: str) -> list[str]:
    env = dict(ws.env)
    if mode == "delay-buffered":
        env["BENCH_BROKER"] += "?producer=buffered"
    if mode == "delay-outbox":
        env["BENCH_BROKER"] += "?producer=outbox"
        env["CFQ_SHIM_OUTBOX_PATH"] = str(ws.root / "outbox.sqlite3")
    out = subprocess.run([sys.executable, "-c", ENQUEUE, str(ws.root), mode, str(count), *extra], env=env,
                         cwd=ws.root, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"enqueue ({mode}) failed: {out.stderr[-3000:]}")
    return out.stdout.strip().splitlines()[-1].split()


def enqueue(ws: Workspace, mode: str, count: int, *extra: str) -> tuple[int, float]:
    sent, seconds = _run_enqueue(ws, mode, count, *extra)[:2]
    return int(sent), float(seconds)


def enqueue_outbox(ws: Workspace, count: int) -> dict:
    """``.delay()`` from one thread with ``?producer=outbox``: rate, call latency, time to drain."""
    sent, seconds, p50_ms, p99_ms, drained, cpu_us = _run_enqueue(ws, "delay-outbox", count)
    return {"tasks": int(sent), "per_s": round(int(sent) / float(seconds)), "p50_call_ms": float(p50_ms),
            "p99_call_ms": float(p99_ms), "drained_s_after_last_call": float(drained),
            "process_cpu_us_per_message": float(cpu_us)}


#: Issue 11's targets for the outbox at 50 ms RTT: (figure, comparison, bound).
OUTBOX_TARGETS = (("per_s", ">=", 5_000), ("p99_call_ms", "<=", 2.0), ("push_requests_per_1000", "<=", 11.0),
                  ("drained_s_after_last_call", "<=", 2.0))


def outbox_summary(figures: dict) -> str:
    """One line: the outbox's four target figures, each against its target, and the ratio to durable."""
    outbox = figures["delay_1_thread_outbox"]
    parts = []
    for name, comparison, bound in OUTBOX_TARGETS:
        value = outbox[name]
        met = value >= bound if comparison == ">=" else value <= bound
        parts.append(f"{name} {value:,} ({comparison} {bound:,}: {'met' if met else 'MISSED'})")
    return (f"outbox at {figures['latency_ms']} ms: " + "; ".join(parts)
            + f"; {outbox['vs_durable_1_thread']:,}x the durable producer's {figures['delay_1_thread']['per_s']}/s"
            + f"; {outbox['process_cpu_us_per_message']} us of CPU per message")


def provision(ws: Workspace) -> None:
    subprocess.run([sys.executable, "-m", "cfq_shim", "-A", "benchapp", "provision"], env=ws.env, cwd=ws.root,
                   check=True, capture_output=True, text=True)


def purge(ws: Workspace) -> None:
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from benchapp import app; "
            "[app.transport.purge(q) for q in app.queues()]")
    subprocess.run([sys.executable, "-c", code, str(ws.root)], env=ws.env, cwd=ws.root, check=True)


def run_latency(tasks: int, latency_ms: int, tmp: Path) -> dict:
    root = tmp / f"latency-{latency_ms}"
    root.mkdir(parents=True)
    stand_in = StandIn(root / "stand-in.sqlite3", latency_ms)
    try:
        ws = Workspace(root, SHIM_APP, f"cloudflare://{ACCOUNT}", tasks - 1)
        ws.env.update({"CLOUDFLARE_API_TOKEN": "bench-token", "CLOUDFLARE_BASE_URL": stand_in.base_url})
        provision(ws)
        result: dict = {"latency_ms": latency_ms}

        # .delay() samples first (then purged), so the drain below starts from the bulk-sent queue only.
        sample = min(tasks, 4_000)
        before = stand_in.counts()
        sent, seconds = enqueue(ws, "delay-threads", sample, str(DELAY_THREADS))
        pushes = sum(diff(stand_in.counts(), before).get(k, 0) for k in ("messages.batch", "messages.push"))
        result[f"delay_{DELAY_THREADS}_threads"] = {"tasks": sent, "per_s": round(sent / seconds),
                                                    "push_requests_per_1000": per_thousand(pushes - 1, sent)}
        single = 200 if latency_ms else 2_000
        sent, seconds = enqueue(ws, "delay", single)
        result["delay_1_thread"] = {"tasks": sent, "per_s": round(sent / seconds)}
        before = stand_in.counts()
        sent, seconds = enqueue(ws, "delay-buffered", sample)
        pushes = sum(diff(stand_in.counts(), before).get(k, 0) for k in ("messages.batch", "messages.push"))
        result["delay_1_thread_buffered"] = {"tasks": sent, "per_s": round(sent / seconds),
                                             "push_requests_per_1000": per_thousand(pushes, sent)}
        before = stand_in.counts()
        outbox = enqueue_outbox(ws, sample)
        pushes = sum(diff(stand_in.counts(), before).get(k, 0) for k in ("messages.batch", "messages.push"))
        outbox["push_requests_per_1000"] = per_thousand(pushes - 1, outbox["tasks"])  # less the warm-up's
        outbox["vs_durable_1_thread"] = round(outbox["per_s"] / result["delay_1_thread"]["per_s"], 1)
        result["delay_1_thread_outbox"] = outbox
        purge(ws)

        before = stand_in.counts()
        sent, seconds = enqueue(ws, "bulk", tasks)
        enqueue_counts = diff(stand_in.counts(), before)
        pushes = enqueue_counts.get("messages.batch", 0) + enqueue_counts.get("messages.push", 0) - 1
        result["bulk_enqueue"] = {"tasks": sent, "per_s": round(sent / seconds),
                                  "push_requests_per_1000": per_thousand(pushes, sent)}

        before = stand_in.counts()
        command = [sys.executable, "-m", "cfq_shim", "-A", "benchapp", "worker", "-l", "warning", *WORKER_FLAGS]
        _, first, last = ws.run_worker(command, until_n=tasks - 1, timeout_seconds=900)
        drain_counts = diff(stand_in.counts(), before)
        pulls, acks = drain_counts.get("messages.pull", 0), drain_counts.get("messages.ack", 0)
        result["drain"] = {"tasks": tasks, "per_s": round((tasks - 1) / (last - first)),
                           "pull_requests": pulls, "ack_requests": acks,
                           "requests_per_1000": per_thousand(pulls + acks, tasks)}
        result["bulk_requests_per_1000_total"] = per_thousand(pushes + pulls + acks, tasks)
        return result
    finally:
        stand_in.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--latencies", default="0,50", help="comma-separated --latency-ms values")
    parser.add_argument("--skip-celery", action="store_true")
    args = parser.parse_args()

    report: dict = {"tasks": args.tasks, "cpus": os.cpu_count(), "python": platform.python_version(),
                    "worker": " ".join(WORKER_FLAGS), "load_average_1m_at_start": round(os.getloadavg()[0], 2),
                    "cloudflare_stand_in": [], "celery_redis": {}}
    summaries = []
    with tempfile.TemporaryDirectory(prefix="cfq-cf-bench-") as tmp:
        for latency in (int(x) for x in args.latencies.split(",")):
            figures = run_latency(args.tasks, latency, Path(tmp))
            report["cloudflare_stand_in"].append(figures)
            print(json.dumps(figures), flush=True)
            summaries.append(outbox_summary(figures))
        if not args.skip_celery:
            celery_tmp = Path(tmp) / "celery"
            celery_tmp.mkdir()
            report["celery_redis"] = celery_runs(args.tasks, celery_tmp, 1)
            print(json.dumps({"celery_redis": report["celery_redis"]}), flush=True)
    report["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    for line in summaries:
        print(line)
    print(f"load average (1 min): {report['load_average_1m_at_start']} at the start, "
          f"{report['load_average_1m_at_end']} at the end, on {os.cpu_count()} CPUs (latency tails grow with it)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
