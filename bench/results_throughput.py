"""Results throughput: cfq_shim on SQLite files (broker and result backend) against Celery 5.7 with Redis
(broker and result backend), on this machine, in the same run.

Two figures, each measured by a client process that is not the worker (as a web process reading results):

- **tasks/s with results**: the client sends N ``add(i, i)`` tasks with ``.delay()`` and then calls
  ``.get()`` on each result; the rate is N over the time from the first send to the last value read.
  Both workers run ``-P prefork -c 2``.
- **chord fan-in**: the client sends ``chord(add.s(i, i) for i in range(H))(xsum.s())`` and reads the body's
  result; the figure is the time from sending to reading it. Celery's Redis backend counts the header
  natively (no chord_unlock); cfq_shim counts it in SQLite (cfq_shim.chords).

Each figure is the best of ``--repeat`` runs. The script starts ``redis-server`` on 127.0.0.1 on a free
port and stops it by pid, prints the figures with their ratios, and writes bench/results/results_throughput.json.
Needs the bench extra (``pip install -e ".[bench]"``) and redis-server.

    python bench/results_throughput.py --tasks 2000 --header 1000 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "results_throughput.json"

APP = """
import os
from {package} import Celery

app = Celery("benchresults", broker=os.environ["BENCH_BROKER"], backend=os.environ["BENCH_BACKEND"])
app.conf.worker_hijack_root_logger = False


@app.task
def add(x, y):
    return x + y


@app.task
def xsum(values):
    return sum(values)
"""

CLIENT = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from benchresults import add, xsum
from {package} import chord

tasks, header = int(sys.argv[2]), int(sys.argv[3])
assert add.delay(1, 1).get(timeout=120) == 2  # connected, worker up
started = time.perf_counter()
results = [add.delay(i, i) for i in range(tasks)]
values = [result.get(timeout=600) for result in results]
finished = time.perf_counter()
assert values == [2 * i for i in range(tasks)]
chord_started = time.perf_counter()
total = chord(add.s(i, i) for i in range(header))(xsum.s()).get(timeout=600)
chord_finished = time.perf_counter()
assert total == header * (header - 1)
print(json.dumps({{"tasks_per_s": tasks / (finished - started), "chord_seconds": chord_finished - chord_started}}))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_system(name: str, package: str, worker: list[str], broker: str, backend: str, root: Path,
               tasks: int, header: int) -> dict[str, float]:
    root.mkdir(parents=True, exist_ok=True)
    (root / "benchresults.py").write_text(textwrap.dedent(APP.format(package=package)))
    env = {**os.environ, "BENCH_BROKER": broker, "BENCH_BACKEND": backend, "PYTHONPATH": str(root)}
    log = open(root / "worker.log", "w")
    process = subprocess.Popen(worker, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        client = subprocess.run(
            [sys.executable, "-c", CLIENT.format(package=package), str(root), str(tasks), str(header)],
            cwd=root, env=env, capture_output=True, text=True, timeout=1800,
        )
        if client.returncode != 0:
            raise RuntimeError(f"{name} client failed:\n{client.stderr[-3000:]}")
        return json.loads(client.stdout.strip().splitlines()[-1])
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def best(runs: list[dict[str, float]]) -> dict[str, float]:
    return {"tasks_per_s": round(max(r["tasks_per_s"] for r in runs), 1),
            "chord_seconds": round(min(r["chord_seconds"] for r in runs), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=2000, help="tasks sent and read per run")
    parser.add_argument("--header", type=int, default=1000, help="header tasks of the chord")
    parser.add_argument("--repeat", type=int, default=3, help="runs per system (best kept)")
    args = parser.parse_args()
    redis_binary = shutil.which("redis-server")
    if redis_binary is None:
        raise SystemExit("redis-server is missing: apt-get install redis-server")

    with tempfile.TemporaryDirectory(prefix="cfq-results-bench-") as tmp:
        port = free_port()
        redis = subprocess.Popen([redis_binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                  "--appendonly", "no", "--dir", tmp], stdout=subprocess.DEVNULL)
        try:
            time.sleep(0.5)
            shim_runs, celery_runs = [], []
            for attempt in range(args.repeat):
                shim_root = Path(tmp) / f"shim-{attempt}"
                shim_runs.append(run_system(
                    "cfq_shim", "cfq_shim",
                    [sys.executable, "-m", "cfq_shim", "-A", "benchresults", "worker", "-l", "warning", "-P", "prefork", "-c", "2"],
                    f"sqlite:///{shim_root / 'queues.sqlite3'}", f"sqlite:///{shim_root / 'results.sqlite3'}",
                    shim_root, args.tasks, args.header,
                ))
                url = f"redis://127.0.0.1:{port}/{attempt % 16}"
                celery_runs.append(run_system(
                    "Celery", "celery",
                    [sys.executable, "-m", "celery", "-A", "benchresults", "worker", "-l", "warning", "-P", "prefork",
                     "-c", "2", "--without-gossip", "--without-mingle", "--without-heartbeat"],
                    url, url, Path(tmp) / f"celery-{attempt}", args.tasks, args.header,
                ))
        finally:
            redis.terminate()
            redis.wait(30)

    shim, celery = best(shim_runs), best(celery_runs)
    ratio_rate = shim["tasks_per_s"] / celery["tasks_per_s"]
    ratio_chord = celery["chord_seconds"] / shim["chord_seconds"]
    print(f"tasks/s with results, get() from another process ({args.tasks} tasks, prefork -c 2):")
    print(f"  cfq_shim (sqlite broker + sqlite results): {shim['tasks_per_s']:>8.1f}")
    print(f"  Celery 5.7 (redis broker + redis results): {celery['tasks_per_s']:>8.1f}")
    print(f"  ratio: {ratio_rate:.2f}x (target >= 2x)")
    print(f"chord fan-in, {args.header} header tasks, send to body result:")
    print(f"  cfq_shim: {shim['chord_seconds']:.3f} s   Celery: {celery['chord_seconds']:.3f} s   "
          f"cfq_shim is {ratio_chord:.2f}x {'faster' if ratio_chord >= 1 else 'slower'}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "command": "python bench/results_throughput.py " + " ".join(sys.argv[1:]),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "tasks": args.tasks, "header": args.header, "repeat": args.repeat,
        "cfq_shim": shim, "celery": celery, "cfq_shim_runs": shim_runs, "celery_runs": celery_runs,
        "ratio_tasks_per_s": round(ratio_rate, 2), "ratio_chord_speed": round(ratio_chord, 2),
    }, indent=2) + "\n")
    print(f"written: {RESULTS}")


if __name__ == "__main__":
    main()
