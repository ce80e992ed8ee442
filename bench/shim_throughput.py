"""Throughput of cfq_shim on the embedded store against Celery 5.7 on a local Redis, in one run.

    python bench/shim_throughput.py [--tasks 20000] [--repeat 1] [--skip-celery]

Measures, for N trivial tasks:

- **enqueue**: ``.delay()`` calls per second from one fresh process;
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
started = time.perf_counter()
for n in range(count):
    noop.delay(n)
print(time.perf_counter() - started)
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

    def enqueue(self, count: int) -> float:
        out = subprocess.run([sys.executable, "-c", ENQUEUE, str(self.root), str(count)], env=self.env, cwd=self.root,
                             capture_output=True, text=True, check=True)
        return count / float(out.stdout.strip().splitlines()[-1])

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


def measure(ws: Workspace, worker: list[str], count: int, purge) -> dict[str, float]:
    purge()
    enqueue_rate = ws.enqueue(count)
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


def shim_runs(count: int, tmp: Path, repeat: int) -> dict[str, dict]:
    db = tmp / "shim" / "queues.sqlite3"
    ws = Workspace(tmp / "shim", SHIM_APP, f"sqlite:///{db}", count - 1)

    def purge() -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)

    base = [sys.executable, "-m", "cfq_shim", "-A", "benchapp", "worker", "-l", "warning"]
    configs = {"solo": ["-P", "solo"], "threads -c 2": ["-P", "threads", "-c", "2"],
               "prefork -c 2": ["-P", "prefork", "-c", "2"]}
    return {name: best_of(repeat, lambda: measure(ws, base + flags, count, purge)) for name, flags in configs.items()}


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


def celery_runs(count: int, tmp: Path, repeat: int) -> dict[str, dict]:
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
        return {name: best_of(repeat, lambda: measure(ws, base + flags, count, client.flushall))
                for name, flags in configs.items()}
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
    parser.add_argument("--skip-celery", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="shim-bench-") as tmp_name:
        tmp = Path(tmp_name)
        shim = shim_runs(args.tasks, tmp, args.repeat)
        celery = {} if args.skip_celery else celery_runs(args.tasks, tmp, args.repeat)
    report: dict = {"tasks": args.tasks, "repeat": args.repeat, "cpus": os.cpu_count(),
                    "python": platform.python_version(), "shim": shim, "celery": celery}
    print(f"{args.tasks} trivial tasks, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"{'system':<8} {'pool':<14} {'enqueue/s':>10} {'drain/s':>9} {'start-up s':>11}")
    for system, runs in (("shim", shim), ("celery", celery)):
        for pool, figures in runs.items():
            print(f"{system:<8} {pool:<14} {figures['enqueue_per_s']:>10.0f} {figures['drain_per_s']:>9.0f} "
                  f"{figures['startup_s']:>11.3f}")
    if celery:
        best_shim = max(f["drain_per_s"] for f in shim.values())
        best_celery = max(f["drain_per_s"] for f in celery.values())
        enqueue_shim = statistics.median(f["enqueue_per_s"] for f in shim.values())
        enqueue_celery = statistics.median(f["enqueue_per_s"] for f in celery.values())
        report["ratios"] = {
            "drain_best_shim_over_best_celery": round(best_shim / best_celery, 2),
            "enqueue_shim_over_celery": round(enqueue_shim / enqueue_celery, 2),
        }
        print(f"drain: best shim {best_shim:.0f}/s / best Celery {best_celery:.0f}/s = "
              f"{report['ratios']['drain_best_shim_over_best_celery']}x (target >= 2x and >= 3000/s)")
        print(f"enqueue: shim {enqueue_shim:.0f}/s / Celery {enqueue_celery:.0f}/s = "
              f"{report['ratios']['enqueue_shim_over_celery']}x (target >= 3x)")
    report.setdefault("ratios", {}).update(pool_ratios(shim))
    startups = ", ".join(f"{pool} {figures['startup_s']}s" for pool, figures in shim.items())
    print(f"start-up to first task, shim: {startups} (target < 0.5 s)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()
