"""Codemod speed: ``celery2cfq rewrite --diff TREE`` against ``pyupgrade --py38-plus``, same files, same run.

    python bench/codemod_speed.py TREE [--jobs 2] [--chunk 100] [--repeat 1]

Both tools get the same ``.py`` files (the ones celery2cfq's discovery finds) and the same cores:
celery2cfq runs with ``--jobs N``; pyupgrade, which handles one process per call, runs over chunks of
files N at a time (like ``xargs -P N -n CHUNK``). pyupgrade rewrites files in place, so it runs over
a fresh copy of the tree each time (the copy is not timed). With ``--repeat N`` each tool runs N
times, alternating, and the fastest run counts (the machine is shared; the minimum is the least
disturbed measurement, as ``timeit`` does). Prints wall time, lines/s and the ratio; writes the
figures to ``bench/results/codemod_speed.json``. CPU seconds (user + system of the tools' processes) are
printed too: on a shared machine they are steadier than wall time. Build trees with ``bench/make_tree.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from celery2cfq.discover import discover

RESULTS = Path(__file__).parent / "results" / "codemod_speed.json"


def children_cpu_seconds() -> float:
    """User + system CPU time of every finished child process so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_celery2cfq(tree: Path, *, jobs: int, report_file: Path) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, exit code) of one ``celery2cfq rewrite --diff`` run."""
    command = [sys.executable, "-m", "celery2cfq", "rewrite", "--diff", "--jobs", str(jobs),
               "--report", "json", "--report-file", str(report_file), str(tree)]
    cpu, started = children_cpu_seconds(), time.perf_counter()
    proc = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode not in (0, 1, 2):
        raise SystemExit(f"celery2cfq failed ({proc.returncode}):\n{proc.stderr}")
    return elapsed, children_cpu_seconds() - cpu, proc.returncode


def time_pyupgrade(files: list[Path], *, jobs: int, chunk: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of pyupgrade over ``files``, ``jobs`` calls at a time."""
    chunks = [files[i : i + chunk] for i in range(0, len(files), chunk)]

    def one(batch: list[Path]) -> int:
        return subprocess.run(["pyupgrade", "--py38-plus", *map(str, batch)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode

    cpu, started = children_cpu_seconds(), time.perf_counter()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(one, chunks))
    return time.perf_counter() - started, children_cpu_seconds() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tree", type=Path)
    parser.add_argument("--jobs", type=int, default=2, help="cores each tool may use (default 2)")
    parser.add_argument("--chunk", type=int, default=100, help="files per pyupgrade call (default 100)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per tool; the fastest counts (default 1)")
    args = parser.parse_args()
    if shutil.which("pyupgrade") is None:
        raise SystemExit("pyupgrade is not installed: pip install -e '.[bench]'")

    tree = args.tree.resolve()
    keys = [f.key for f in discover([tree]).files]
    lines = sum((tree / key).read_bytes().count(b"\n") for key in keys)
    print(f"tree: {tree} ({len(keys):,} .py files, {lines:,} lines); {args.jobs} cores each "
          f"(celery2cfq --jobs {args.jobs}; pyupgrade in chunks of {args.chunk} files, {args.jobs} at a time)")

    c2c_runs: list[tuple[float, float]] = []
    pyu_runs: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory(prefix="codemod-speed-") as scratch:
        report_file = Path(scratch, "report.json")
        for attempt in range(args.repeat):
            seconds, cpu, c2c_exit = time_celery2cfq(tree, jobs=args.jobs, report_file=report_file)
            c2c_runs.append((seconds, cpu))
            copy = Path(scratch, f"copy{attempt}")
            for key in keys:
                target = copy / key
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(tree / key, target)
            pyu_runs.append(time_pyupgrade([copy / key for key in keys], jobs=args.jobs, chunk=args.chunk))
            shutil.rmtree(copy)
        summary = json.loads(report_file.read_text())["summary"]
    (c2c_seconds, c2c_cpu), (pyu_seconds, pyu_cpu) = min(c2c_runs), min(pyu_runs)

    figures = {
        "tree": str(tree),
        "files": len(keys),
        "lines": lines,
        "cores": args.jobs,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "celery2cfq": {"seconds": round(c2c_seconds, 3), "lines_per_second": round(lines / c2c_seconds),
                       "cpu_seconds": round(c2c_cpu, 3), "lines_per_cpu_second": round(lines / c2c_cpu),
                       "runs_seconds": [round(x, 3) for x, _ in c2c_runs], "exit_code": c2c_exit,
                       "summary": summary},
        "pyupgrade": {"seconds": round(pyu_seconds, 3), "lines_per_second": round(lines / pyu_seconds),
                      "cpu_seconds": round(pyu_cpu, 3), "lines_per_cpu_second": round(lines / pyu_cpu),
                      "runs_seconds": [round(x, 3) for x, _ in pyu_runs], "args": ["--py38-plus"],
                      "chunk": args.chunk},
        "load_average_1min_after": round(os.getloadavg()[0], 2),
        "ratio_celery2cfq_over_pyupgrade_time": round(c2c_seconds / pyu_seconds, 3),
    }
    print(f"celery2cfq rewrite --diff: {c2c_seconds:8.2f} s  {lines / c2c_seconds:>10,.0f} lines/s  "
          f"({c2c_cpu:.1f} CPU-s, {lines / c2c_cpu:,.0f} lines/CPU-s; exit {c2c_exit}; "
          f"{summary['files_changed']} would change, {summary['files_failed']} failed)")
    print(f"pyupgrade --py38-plus:     {pyu_seconds:8.2f} s  {lines / pyu_seconds:>10,.0f} lines/s  "
          f"({pyu_cpu:.1f} CPU-s, {lines / pyu_cpu:,.0f} lines/CPU-s)")
    if args.repeat > 1:
        print(f"fastest of {args.repeat} runs each; all runs (s): celery2cfq {[round(x, 2) for x, _ in c2c_runs]}, "
              f"pyupgrade {[round(x, 2) for x, _ in pyu_runs]}")
    print(f"load average (1 min) now: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs "
          "(above the 2 cores used here means other work competed for them)")
    print(f"time ratio celery2cfq / pyupgrade: {c2c_seconds / pyu_seconds:.2f} (below 1 is faster)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    runs = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    runs[tree.name] = figures
    RESULTS.write_text(json.dumps(runs, indent=2) + "\n")
    print(f"figures written to {RESULTS}")


if __name__ == "__main__":
    main()
