"""The share of deployment and dependency files in the corpus that celery2cfq migrates with no manual
step (issue 12's closing figure).

    python tools/files_corpus_share.py

Each ``corpus/files_*`` case's ``before/`` tree is migrated in a temporary copy. A file counts when it
holds something Celery (the run changes it or reports on it). It is migrated with no manual step when
it was rewritten and none of its findings is one that leaves a person something to do
(``celery2cfq.files.rules.MANUAL_CODES``); findings that only say what was done (a removed option
that meant nothing on Cloudflare Queues, a replaced dependency) do not count as manual.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from celery2cfq.engine import run
from celery2cfq.files.rules import MANUAL_CODES
from celery2cfq.model import Options

CORPUS = Path(__file__).resolve().parents[1] / "corpus"


def main() -> None:
    total = clean = 0
    with tempfile.TemporaryDirectory() as scratch:
        for case in sorted(CORPUS.glob("files_*")):
            work = Path(scratch, case.name)
            shutil.copytree(case / "before", work)
            for result in run([work], options=Options(), jobs=1, write=False).files:
                if not (result.changed or result.findings or result.error):
                    continue
                manual = sorted({f.code for f in result.findings if f.code in MANUAL_CODES})
                ok = result.changed and result.error is None and not manual
                total += 1
                clean += ok
                name = Path(result.path).relative_to(work).as_posix()
                print(f"{case.name:24} {name:40} {'no manual step' if ok else 'manual: ' + ', '.join(manual or ['not changed'])}")
    print(f"\n{clean} of {total} deployment/dependency files ({clean / total:.0%}) migrated with no manual step")


if __name__ == "__main__":
    main()
