"""Where a ``.delay()`` on the embedded store spends its time: N calls in this process under cProfile.

    python bench/profile_delay.py [--calls 20000] [--top 25] [--sort tottime|cumulative|both]

A fresh ``sqlite://`` store in a temporary directory, one task (``@app.task(ignore_result=True)``), one
call outside the profile (it opens the store and declares the queue), then N calls profiled. Prints the
calls per second and CPU microseconds per call without the profiler (a run of N just before), the
share of the profiled time spent in each stage of the send path, and the top functions.

The profiler inflates the cost of every Python call, so the shares of the stages are a guide to where
the time goes, not a measure of it: the unprofiled figures are. ``bench/shim_throughput.py`` measures
``.delay()`` against Celery on Redis.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
from pathlib import Path

from cfq_shim import Celery

#: Send-path stages, each the cumulative time of one function (file suffix, function name).
STAGES = {
    ".delay() in all": ("cfq_shim/task.py", "delay"),
    "  app.send_task": ("cfq_shim/app.py", "send_task"),
    "    encode the body": ("cfq_shim/envelope.py", "encode_call"),
    "    producer.send": ("cfq_shim/sending/producer.py", "send"),
    "      store.push": ("cfq_shim/embedded/store.py", "push"),
    "        SQLite statements": ("~", "<method 'execute' of 'sqlite3.Connection' objects>"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--sort", default="both", choices=["tottime", "cumulative", "both"])
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="profile-delay-") as tmp:
        app = Celery("profiled", broker=f"sqlite:///{Path(tmp) / 'queues.sqlite3'}")

        @app.task(ignore_result=True)
        def noop(n: int) -> None:
            pass

        noop.delay(-1)  # opens the store and declares the queue
        cpu, wall = time.process_time(), time.perf_counter()
        for n in range(args.calls):
            noop.delay(n)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(f"{args.calls} calls without the profiler: {args.calls / wall:,.0f}/s, "
              f"{cpu / args.calls * 1e6:.1f} us CPU per call")

        profiler = cProfile.Profile()
        profiler.enable()
        for n in range(args.calls):
            noop.delay(n)
        profiler.disable()
        app.close()

    stats = pstats.Stats(profiler)
    total = 0.0
    cumulative: dict[str, float] = {}
    for (filename, _, function), (_, _, _, ct, _) in stats.stats.items():  # type: ignore[attr-defined]
        for stage, (file_suffix, name) in STAGES.items():
            if filename.endswith(file_suffix) and function == name:
                cumulative[stage] = cumulative.get(stage, 0.0) + ct
    total = cumulative.get(".delay() in all", 0.0) or 1.0
    print(f"{args.calls} calls under the profiler; time per stage (cumulative, share of .delay()):")
    for stage in STAGES:
        if stage in cumulative:
            print(f"  {stage:<26} {cumulative[stage] / args.calls * 1e6:8.1f} us  {cumulative[stage] / total:6.1%}")
    for order in (["tottime", "cumulative"] if args.sort == "both" else [args.sort]):
        stats.sort_stats(order).print_stats(args.top)


if __name__ == "__main__":
    main()
