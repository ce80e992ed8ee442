"""A variable that holds the celery program (a Makefile's ``CELERY = $(VENV)/bin/celery``, a
script's ``CELERY=/srv/venv/bin/celery``) is renamed where it is set, and the command lines that
run it are mapped; a variable that only happens to hold the word (a user name) is left alone."""

from __future__ import annotations

import pytest
from files_support import migrate

from celery2cfq.engine import run
from celery2cfq.model import Options


@pytest.mark.parametrize(("name", "before", "after", "codes"), [
    ("Makefile",
     "VENV ?= .venv\nCELERY := $(VENV)/bin/celery  # the worker\nAPP = proj\n\nworker:\n\t$(CELERY) -A $(APP) worker -E\n",
     "VENV ?= .venv\nCELERY := $(VENV)/bin/cfq-shim  # the worker\nAPP = proj\n\nworker:\n\t$(CELERY) -A $(APP) worker\n",
     ["CFQ602"]),
    ("Makefile", "PY = python -m celery\nbeat:\n\t@${PY} -A proj beat --detach\n",
     "PY = python -m cfq_shim\nbeat:\n\t@${PY} -A proj beat\n", ["CFQ604"]),
    ("Makefile", "export CELERY = celery\nstatus:\n\t$(CELERY) -A proj status\n",
     "export CELERY = cfq-shim\nstatus:\n\t$(CELERY) -A proj status\n", []),
    ("bin/start.sh", '#!/bin/sh\nCELERY="/srv/venv/bin/celery"\n"$CELERY" -A proj worker -E\n',
     '#!/bin/sh\nCELERY="/srv/venv/bin/cfq-shim"\n"$CELERY" -A proj worker\n', ["CFQ602"]),
    ("bin/start.sh", "#!/bin/sh\nexport CELERY=celery\nexec ${CELERY} -A proj worker\n",
     "#!/bin/sh\nexport CELERY=cfq-shim\nexec ${CELERY} -A proj worker\n", []),
    ("bin/start.sh", "#!/bin/sh\nCELERY_BIN=/usr/bin/celery\n$CELERY_BIN -A proj worker\n",
     "#!/bin/sh\nCELERY_BIN=/usr/bin/cfq-shim\n$CELERY_BIN -A proj worker\n", []),
])
def test_the_program_variable_names_cfq_shim(tmp_path, name, before, after, codes):
    result, files = migrate(tmp_path, {name: before})
    assert files[name] == after
    assert [f.code for f in result.files[0].findings] == codes
    assert run([tmp_path], options=Options(), jobs=1, write=False).summary.files_changed == 0


@pytest.mark.parametrize(("name", "text"), [
    ("Makefile", "USER = celery\nCELERY = celery\nfix:\n\tchown $(USER):$(USER) /srv\n\t$(CELERY) --version\n"),
    ("bin/start.sh", "#!/bin/sh\nCELERY_USER=celery\nchown $CELERY_USER /srv\nsu $CELERY_USER -c true\n"),
])
def test_a_variable_not_run_as_celery_is_left_alone(tmp_path, name, text):
    result, files = migrate(tmp_path, {name: text})
    assert files[name] == text
    assert not [f for r in result.files for f in r.findings]
