"""Throughput of cfq_shim on the embedded store against Celery 5.7 on a local Redis, in one run.

    python bench/shim_throughput.py [--tasks 20000] [--repeat 1] [--skip-celery]

Measures, for N trivial tasks:

- **enqueue**: ``.delay()`` calls per second from one fresh process: the loop of N calls alone is timed
  (the process start, the imports and a first call that opens the broker are not), on an empty queue
  with no worker running; ``--repeat`` fresh processes, the median. The CPU time per call
  (``time.process_time``) is printed beside it: on a shared machine it moves less than the wall clock;
- **drain**: tasks per second of one worker process on a full queue, from its first task to its last
  (start-up excluded; each task writes nothing except the first and the last, which record a time);
- **start-up**: seconds from launching the worker process to its first task running (median of 3).

The shim runs ``-P solo``, ``-P threads -c 2`` and ``-P prefork -c 2``; Celery runs ``-P solo`` and
``-P prefork -c 2`` (``--without-gossip --without-mingle --without-heartbeat``). Redis: the script starts
``redis-server`` on 127.0.0.1 on a free port and stops it by pid; when it is missing and the script runs
as root it installs it with apt-get. Results are printed with their ratios and written to
bench/results/shim_throughput.json. Needs the ``bench`` extra (``pip install -e ".[bench]"``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "shim_throughput.json"

SHIM_APP = """
import os, time
from cfq_shim import Celery

app = Celery("benchapp", broker=os.environ["BENCH_BROKER"])
LAST = int(os.environ["BENCH_LAST"])
STAMPS = os.environ["BENCH_STAMPS"]


@app.task(ignore_result=True)
def noop(n):
    if n == 0 or n == LAST:
        with open(STAMPS, "a") as f:
            f.write(f"{n} {time.time()}\\n")
"""

CELERY_APP = SHIM_APP.replace("from cfq_shim import Celery", "from celery import Celery")

ENQUEUE = """
import sys, time
sys.path.insert(0, sys.argv[1])
from benchapp import noop
count = int(sys.argv[2])
noop.delay(-1)  # connect and declare outside the timing
cpu_started, started = time.process_time(), time.perf_counter()
for n in range(count):
    noop.delay(n)
print(time.perf_counter() - started, time.process_time() - cpu_started)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Workspace:
    def __init__(self, root: Path, app_source: str, broker: str, last: int) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        (root / "benchapp.py").write_text(textwrap.dedent(app_source))
        self.stamps = root / "stamps.txt"
        self.env = {**os.environ, "BENCH_BROKER": broker, "BENCH_LAST": str(last), "BENCH_STAMPS": str(self.stamps),
                    "PYTHONPATH": str(root)}

    def enqueue(self, count: int) -> tuple[float, float]:
        """``.delay()`` calls per second, and CPU microseconds per call, of ``count`` calls in a fresh process."""
        out = subprocess.run([sys.executable, "-c", ENQUEUE, str(self.root), str(count)], env=self.env, cwd=self.root,
                             capture_output=True, text=True, check=True)
        wall, cpu = map(float, out.stdout.strip().splitlines()[-1].split())
        return count / wall, cpu / count * 1e6

    def stamps_by_n(self) -> dict[int, float]:
        if not self.stamps.exists():
            return {}
        result = {}
        for line in self.stamps.read_text().splitlines():
            n, moment = line.split()
            result[int(n)] = float(moment)
        return result

    def run_worker(self, command: list[str], *, until_n: int, timeout_seconds: float) -> tuple[float, float, float]:
        """Start the worker, wait for task ``until_n`` to run, stop it. Returns the times of the launch,
        of task 0 and of task ``until_n``."""
        self.stamps.unlink(missing_ok=True)
        launched = time.time()
        process = subprocess.Popen(command, env=self.env, cwd=self.root, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + timeout_seconds
            while until_n not in self.stamps_by_n():
                if process.poll() is not None:
                    raise RuntimeError(f"worker exited {process.returncode}: {process.stderr.read()[-2000:]}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"task {until_n} did not run within {timeout_seconds}s")
                time.sleep(0.005)
        finally:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        stamps = self.stamps_by_n()
        return launched, stamps.get(0, launched), stamps[until_n]


def measure_enqueue(ws: Workspace, count: int, purge, repeat: int) -> dict[str, float]:
    """``.delay()`` from one process into an empty queue, no worker running: medians of ``repeat`` runs."""
    runs = []
    for _ in range(repeat):
        purge()
        runs.append(ws.enqueue(count))
    return {"per_s": round(statistics.median(rate for rate, _ in runs)),
            "cpu_us_per_call": round(statistics.median(cpu for _, cpu in runs), 1)}


def measure(ws: Workspace, worker: list[str], count: int, purge) -> dict[str, float]:
    purge()
    enqueue_rate, _ = ws.enqueue(count)  # fills the queue the worker drains
    # The warm-up task (-1) sits first; the worker runs it too.
    _, first, last = ws.run_worker(worker, until_n=count - 1, timeout_seconds=600)
    drain_rate = (count - 1) / (last - first)
    startups = []
    for _ in range(3):
        purge()
        ws.enqueue(1)
        launched, first_task, _ = ws.run_worker(worker, until_n=0, timeout_seconds=60)
        startups.append(first_task - launched)
    return {"enqueue_per_s": round(enqueue_rate), "drain_per_s": round(drain_rate),
            "startup_s": round(statistics.median(startups), 3)}


def shim_runs(count: int, tmp: Path, repeat: int, enqueue_repeat: int) -> tuple[dict[str, dict], dict[str, float]]:
    db = tmp / "shim" / "queues.sqlite3"
    ws = Workspace(tmp / "shim", SHIM_APP, f"sqlite:///{db}", count - 1)

    def purge() -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)

    base = [sys.executable, "-m", "cfq_shim", "-A", "benchapp", "worker", "-l", "warning"]
    configs = {"solo": ["-P", "solo"], "threads -c 2": ["-P", "threads", "-c", "2"],
               "prefork -c 2": ["-P", "prefork", "-c", "2"]}
    enqueue = measure_enqueue(ws, count, purge, enqueue_repeat)
    return {name: best_of(repeat, lambda: measure(ws, base + flags, count, purge))
            for name, flags in configs.items()}, enqueue


def ensure_redis() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit("redis-server is missing; install it (apt-get install redis-server) or use --skip-celery")
    subprocess.run(["apt-get", "update"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "redis-server"], check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    return shutil.which("redis-server") or "/usr/bin/redis-server"


def celery_runs(count: int, tmp: Path, repeat: int, enqueue_repeat: int) -> tuple[dict[str, dict], dict[str, float]]:
    import redis  # the bench extra

    port = free_port()
    server = subprocess.Popen([ensure_redis(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", str(tmp)], stdout=subprocess.DEVNULL)
    try:
        client = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + 30
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        ws = Workspace(tmp / "celery", CELERY_APP, f"redis://127.0.0.1:{port}/0", count - 1)
        base = [sys.executable, "-m", "celery", "-A", "benchapp", "worker", "-l", "warning",
                "--without-gossip", "--without-mingle", "--without-heartbeat"]
        configs = {"solo": ["-P", "solo"], "prefork -c 2": ["-P", "prefork", "-c", "2"]}
        enqueue = measure_enqueue(ws, count, client.flushall, enqueue_repeat)
        return {name: best_of(repeat, lambda: measure(ws, base + flags, count, client.flushall))
                for name, flags in configs.items()}, enqueue
    finally:
        server.terminate()
        server.wait(30)


def best_of(repeat: int, run) -> dict[str, float]:
    """Medians over ``repeat`` runs of each figure."""
    runs = [run() for _ in range(repeat)]
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def pool_ratios(shim: dict[str, dict]) -> dict[str, float]:
    """Issue 11's pool target, printed: the default pool (prefork -c 2) against solo, measured in this run."""
    solo, prefork = shim["solo"]["drain_per_s"], shim["prefork -c 2"]["drain_per_s"]
    ratio = round(prefork / solo, 2)
    print(f"drain: prefork -c 2 {prefork:.0f}/s / solo {solo:.0f}/s = {ratio}x (target >= 0.8x and >= 12000/s)")
    return {"drain_prefork_over_solo": ratio}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=1, help="runs per configuration; medians are reported")
    parser.add_argument("--enqueue-repeat", type=int, default=3,
                        help="fresh processes timing .delay() on an empty queue; the median is reported")
    parser.add_argument("--skip-celery", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="shim-bench-") as tmp_name:
        tmp = Path(tmp_name)
        shim, shim_enqueue = shim_runs(args.tasks, tmp, args.repeat, args.enqueue_repeat)
        celery, celery_enqueue = ({}, {}) if args.skip_celery else celery_runs(args.tasks, tmp, args.repeat,
                                                                                args.enqueue_repeat)
    report: dict = {"tasks": args.tasks, "repeat": args.repeat, "cpus": os.cpu_count(),
                    "python": platform.python_version(), "shim": shim, "celery": celery,
                    "enqueue": {"shim": shim_enqueue, "celery": celery_enqueue}}
    print(f"{args.tasks} trivial tasks, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f".delay() from one process, {args.tasks} calls, median of {args.enqueue_repeat} runs:")
    for system, figures in (("shim", shim_enqueue), ("celery", celery_enqueue)):
        if figures:
            print(f"  {system:<8} {figures['per_s']:>8,.0f}/s  {figures['cpu_us_per_call']:>6.1f} us CPU per call")
    print("(the enqueue/s column below: the same calls, once, filling the queue each pool then drains)")
    print(f"{'system':<8} {'pool':<14} {'enqueue/s':>10} {'drain/s':>9} {'start-up s':>11}")
    for system, runs in (("shim", shim), ("celery", celery)):
        for pool, figures in runs.items():
            print(f"{system:<8} {pool:<14} {figures['enqueue_per_s']:>10.0f} {figures['drain_per_s']:>9.0f} "
                  f"{figures['startup_s']:>11.3f}")
    if celery:
        best_shim = max(f["drain_per_s"] for f in shim.values())
        best_celery = max(f["drain_per_s"] for f in celery.values())
        enqueue_shim = shim_enqueue["per_s"]
        enqueue_celery = celery_enqueue["per_s"]
        report["ratios"] = {
            "drain_best_shim_over_best_celery": round(best_shim / best_celery, 2),
            "enqueue_shim_over_celery": round(enqueue_shim / enqueue_celery, 2),
        }
        print(f"drain: best shim {best_shim:.0f}/s / best Celery {best_celery:.0f}/s = "
              f"{report['ratios']['drain_best_shim_over_best_celery']}x (target >= 2x and >= 3000/s)")
        print(f"enqueue (.delay(), one process): shim {enqueue_shim:.0f}/s / Celery + Redis {enqueue_celery:.0f}/s = "
              f"{report['ratios']['enqueue_shim_over_celery']}x (target >= 20000/s and >= 8x)")
    report.setdefault("ratios", {}).update(pool_ratios(shim))
    startups = ", ".join(f"{pool} {figures['startup_s']}s" for pool, figures in shim.items())
    print(f"start-up to first task, shim: {startups} (target < 0.5 s)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()
