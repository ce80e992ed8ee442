"""Where the outbox's slow ``.delay()`` calls come from: the in-process forwarder, or the machine.

    python bench/outbox_tail.py [--calls 4000] [--latency-ms 50]

bench/cloudflare_throughput.py measures the outbox's four figures; on a shared machine their tail moves
with the load. This script tells the two causes apart, with the stand-in (``cfq-shim emulator``) at
``--latency-ms`` and ``?producer=outbox``, N ``.delay()`` calls from one thread, in two fresh processes:

- **thread** (the default ``cfq_outbox_forwarder = "thread"``): the forwarder's threads push from the
  calling process. For every call slower than 2 ms it reads the forwarder threads' CPU clocks before
  and after: a call during which the forwarder ran for at least half its duration most likely waited
  for the GIL (the forwarder's work is the cause; its SQLite and socket calls run without the GIL, so
  this over-counts); the others waited for the operating system (other processes on the cores). It
  also gives the forwarder's CPU time per push, a figure the load hardly moves;
- **external**, the peer: ``cfq_outbox_forwarder = "external"`` and a ``cfq-shim -A APP forward``
  process draining the same file meanwhile, so no forwarder shares the calling process.

Printed with the ratio of the two p99s and the load average, and written to bench/results/outbox_tail.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from cloudflare_throughput import ACCOUNT, StandIn, provision  # noqa: E402 - the sibling harness
from shim_throughput import SHIM_APP, Workspace  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "outbox_tail.json"
SLOW_SECONDS = 0.002

CALLS = """
import json, sys, threading, time
sys.path.insert(0, sys.argv[1])
from benchapp import app, noop

mode, count, slow_seconds = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
app.conf.cfq_outbox_forwarder = mode
producer = app.producer
noop.delay(-1)  # open the outbox (and start the forwarder) outside the timing
clock = time.perf_counter


def drain(timeout):
    deadline = clock() + timeout
    while producer.outbox.depth(producer.destination):
        if clock() > deadline:
            raise SystemExit("the outbox was not drained in time")
        time.sleep(0.005)


drain(60)
forwarder = producer.forwarder
clocks = [time.pthread_getcpuclockid(t.ident) for t in threading.enumerate() if t.name.startswith("cfq-outbox")]


def forwarder_cpu():
    return sum(time.clock_gettime(c) for c in clocks)


pushes_before = forwarder.pushes if forwarder else 0
cpu_before = forwarder_cpu()
latencies, slow = [], []
started = clock()
for n in range(count):
    cpu_at_call = forwarder_cpu()
    before = clock()
    noop.delay(n)
    took = clock() - before
    latencies.append(took)
    if took > slow_seconds:
        slow.append((took, forwarder_cpu() - cpu_at_call))
last_call = clock()
drain(120)
drained = clock() - last_call
pushes = (forwarder.pushes if forwarder else 0) - pushes_before
latencies.sort()
print(json.dumps({
    "calls": count, "per_s": round(count / (last_call - started)),
    "p50_call_ms": round(latencies[count // 2] * 1000, 3), "p99_call_ms": round(latencies[int(count * 0.99)] * 1000, 3),
    "calls_over_2_ms": len(slow),
    "of_which_the_forwarder_ran_half_the_call": sum(1 for took, cpu in slow if cpu >= took / 2),
    "forwarder_pushes": pushes,
    "forwarder_cpu_ms_per_push": round((forwarder_cpu() - cpu_before) * 1000 / pushes, 3) if pushes else None,
    "drained_s_after_last_call": round(drained, 3),
}))
"""


def run_calls(ws: Workspace, mode: str, calls: int) -> dict:
    env = {**ws.env, "BENCH_BROKER": ws.env["BENCH_BROKER"] + "?producer=outbox",
           "CFQ_SHIM_OUTBOX_PATH": str(ws.root / f"outbox-{mode}.sqlite3")}
    forward = None
    if mode == "external":
        forward = subprocess.Popen([sys.executable, "-m", "cfq_shim", "-A", "benchapp", "forward", "-l", "warning"],
                                   env=env, cwd=ws.root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        out = subprocess.run([sys.executable, "-c", CALLS, str(ws.root), mode, str(calls), str(SLOW_SECONDS)],
                             env=env, cwd=ws.root, capture_output=True, text=True)
    finally:
        if forward is not None:
            forward.terminate()
            forward.wait(30)
    if out.returncode != 0:
        raise RuntimeError(f"the {mode} run failed: {out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=4_000)
    parser.add_argument("--latency-ms", type=int, default=50)
    args = parser.parse_args()

    report: dict = {"calls": args.calls, "latency_ms": args.latency_ms, "cpus": os.cpu_count(),
                    "load_average_1m_at_start": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory(prefix="cfq-outbox-tail-") as tmp:
        root = Path(tmp)
        stand_in = StandIn(root / "stand-in.sqlite3", args.latency_ms)
        try:
            ws = Workspace(root / "app", SHIM_APP, f"cloudflare://{ACCOUNT}", args.calls - 1)
            ws.env.update({"CLOUDFLARE_API_TOKEN": "bench-token", "CLOUDFLARE_BASE_URL": stand_in.base_url})
            provision(ws)
            for mode in ("thread", "external"):
                report[mode] = run_calls(ws, mode, args.calls)
                print(json.dumps({mode: report[mode]}), flush=True)
        finally:
            stand_in.stop()
    report["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    thread, external = report["thread"], report["external"]
    report["p99_thread_over_external"] = round(thread["p99_call_ms"] / external["p99_call_ms"], 2)
    gil = thread["of_which_the_forwarder_ran_half_the_call"]
    print(f"in-process forwarder: p99 {thread['p99_call_ms']} ms; {thread['calls_over_2_ms']} of {thread['calls']} "
          f"calls over 2 ms, {gil} of them while the forwarder ran for half the call or more (likely the GIL), "
          f"{thread['calls_over_2_ms'] - gil} waiting for the machine; the forwarder used "
          f"{thread['forwarder_cpu_ms_per_push']} ms of CPU per push ({thread['forwarder_pushes']} pushes)")
    print(f"external forwarder (the peer): p99 {external['p99_call_ms']} ms, {external['calls_over_2_ms']} calls "
          f"over 2 ms; p99 with the forwarder in the process / without: {report['p99_thread_over_external']}x")
    print(f"load average (1 min): {report['load_average_1m_at_start']} at the start, "
          f"{report['load_average_1m_at_end']} at the end, on {os.cpu_count()} CPUs")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
