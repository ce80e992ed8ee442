"""Where the codemod's time goes: ``engine.run`` in one process under cProfile.

    python bench/profile_codemod.py TREE [--top 30] [--sort tottime|cumulative]

Runs the whole pipeline with ``jobs=1`` (so the fixers' time is in this process and visible to the
profiler), writes nothing, and prints the top functions plus the time per pipeline stage as the
profile attributes it (discovery, pre-filter, index, transform, verification, diffs).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from pathlib import Path

from celery2cfq import engine
from celery2cfq.model import Options

STAGES = {
    "discovery": ("discover.py", "discover"),
    "pre-filter": ("prefilter.py", "might_need_work"),
    "decode": ("source_io.py", "decode"),
    "index": ("index.py", "build_index"),
    "transform + verify": ("engine.py", "_transform_one"),
    "verify (second transform)": ("engine.py", "_verify"),
    "diff": ("engine.py", "unified_diff"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tree", type=Path)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--sort", default="tottime", choices=["tottime", "cumulative"])
    args = parser.parse_args()

    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    result = engine.run([args.tree], options=Options(), jobs=1, write=False)
    profiler.disable()
    elapsed = time.perf_counter() - started
    s = result.summary
    print(f"{s.files_scanned:,} files, {s.files_changed:,} would change, {s.files_failed:,} failed; "
          f"{elapsed:.2f}s under the profiler (jobs=1)")

    stats = pstats.Stats(profiler)
    cumulative = {}
    for (filename, _, function), (_, _, _, ct, _) in stats.stats.items():  # type: ignore[attr-defined]
        for stage, (file_suffix, name) in STAGES.items():
            if filename.endswith(file_suffix) and function == name:
                cumulative[stage] = cumulative.get(stage, 0.0) + ct
    for stage in STAGES:
        if stage in cumulative:
            print(f"  {stage:<28} {cumulative[stage]:8.2f}s")
    stats.sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()
