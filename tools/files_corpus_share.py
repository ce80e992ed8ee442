"""The share of deployment and dependency files in the corpus that celery2cfq migrates with no manual
step (issue 12's closing figure).

    python tools/files_corpus_share.py                 # every corpus/files_* case
    python tools/files_corpus_share.py files_procfile  # some cases, by name

Each ``corpus/files_*`` case's ``before/`` tree is migrated in a temporary copy. A file counts when it
is not Python (the deployment, environment and dependency formats of ``celery2cfq.files.kind_of``)
and holds something Celery (the run changes it or reports on it). It is migrated with no manual step
when it was rewritten and none of its findings is one that leaves a person something to do
(``celery2cfq.files.rules.MANUAL_CODES``); findings that only say what was done (a removed option
that meant nothing on Cloudflare Queues, a replaced dependency) do not count as manual.

The second figure leaves CFQ701 out: it only reminds that the deployment's secret store needs the
Cloudflare variables, a step taken once per deployment rather than per file.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from celery2cfq.engine import run
from celery2cfq.files import kind_of
from celery2cfq.files.rules import MANUAL_CODES
from celery2cfq.model import Options

CORPUS = Path(__file__).resolve().parents[1] / "corpus"


def main() -> None:
    cases = sorted(CORPUS.glob("files_*"))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cases", nargs="*", metavar="CASE",
                        help=f"corpus cases to count (default: all {len(cases)} files_* cases)")
    chosen = set(parser.parse_args().cases)
    unknown = sorted(chosen - {case.name for case in cases})
    if unknown:
        parser.error(f"no such corpus case: {', '.join(unknown)} (the cases are corpus/files_*)")
    rows: list[tuple[str, str, bool, list[str]]] = []
    with tempfile.TemporaryDirectory() as scratch:
        for case in cases:
            if chosen and case.name not in chosen:
                continue
            work = Path(scratch, case.name)
            shutil.copytree(case / "before", work)
            for result in run([work], options=Options(), jobs=1, write=False).files:
                name = Path(result.path).relative_to(work).as_posix()
                if kind_of(name) is None or not (result.changed or result.findings or result.error):
                    continue
                manual = sorted({f.code for f in result.findings if f.code in MANUAL_CODES})
                rows.append((case.name, name, bool(result.changed and result.error is None), manual))
    for case, name, changed, manual in rows:
        verdict = "no manual step" if changed and not manual else "manual: " + ", ".join(manual or ["not changed"])
        print(f"{case:24} {name:40} {verdict}")
    total = len(rows)
    for label, ignored in (("", set()), (" (CFQ701 not counted)", {"CFQ701"})):
        clean = sum(1 for _, _, changed, manual in rows if changed and not set(manual) - ignored)
        print(f"{clean} of {total} deployment/dependency files ({clean / total:.0%}) migrated with no manual step{label}")


if __name__ == "__main__":
    main()
