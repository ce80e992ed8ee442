"""The rules for files that are not Python: codes, titles, descriptions and examples.

docs/rules.md shows them after the Python rules (generated, like theirs, by
``python -m celery2cfq.fixers._docs docs/rules.md``); tests/migrate/files/test_file_rules.py runs
every example. Codes: CFQ6xx commands (deployment files), CFQ7xx environment and dependencies.

``MANUAL_CODES`` are the findings that leave a person something to do; the others only say what
the codemod did (a removed option that meant nothing on Cloudflare Queues, a dependency replaced).
"""

from __future__ import annotations

from collections.abc import Mapping

from ..fixers._base import Example, Rule

__all__ = ["FILE_RULES", "FILE_CODES", "MANUAL_CODES", "REWRITE_GATES"]

_RULES = (
    Rule(
        "CFQ601", "celery-command", "`celery … worker|beat|inspect|status|purge|control` becomes `cfq-shim …`",
        "In Procfiles, shell scripts, Dockerfiles (shell and exec form; an exec-form `ENTRYPOINT` and `CMD` are "
        "one command line, also in a stage built `FROM` an earlier one), compose and Kubernetes YAML (string and "
        "list form; a container's `command` + `args` and a service's `entrypoint` + `command` are one command "
        "line), systemd `ExecStart=`, supervisor `command=` and Makefile recipes. `celery`, "
        "`/path/to/celery` and `python -m celery` are recognised when a Celery sub-command follows; "
        "`$CELERY_BIN` (Celery's systemd docs) too, and a variable the same Makefile or script sets to the celery "
        "program (`CELERY = $(VENV)/bin/celery`, run as `$(CELERY) -A proj worker`), which is renamed where it "
        "is set. Options keep their spelling; `-A/--app` given after the "
        "sub-command moves in front of it (cfq-shim takes it there). Variables (`-Q$QUEUES`), `\\` "
        "continuations, `exec`, `sh -c \"…\"` and YAML lists stay as they are. `CELERY_BIN=…/celery` in an "
        "environment file names `cfq-shim`. `--skip CFQ601` turns off every rewrite of deployment files.",
        (
            Example(path="Procfile", before="worker: celery -A proj worker -l info -c 4 -Q default,mail\n",
                    after="worker: cfq-shim -A proj worker -l info -c 4 -Q default,mail\n"),
            Example(path="docker-compose.yml",
                    before='services:\n  worker:\n    command: ["celery", "worker", "--app=proj", "-l", "info"]\n',
                    after='services:\n  worker:\n    command: ["cfq-shim", "--app=proj", "worker", "-l", "info"]\n'),
        ),
        rewrites=True,
    ),
    Rule(
        "CFQ602", "option-without-meaning", "An option with no meaning on Cloudflare Queues is removed",
        "`-E`, `--without-gossip`, `--without-mingle`, `--without-heartbeat`, `--heartbeat-interval`, `-O fair`, "
        "`--detach` where a process manager runs the command (a Dockerfile's `CMD`/`ENTRYPOINT`, compose, Kubernetes, Procfile, "
        "supervisor, systemd: cfq-shim stays in the foreground, as they expect; a systemd unit's `Type=forking` "
        "becomes `Type=simple`), "
        "`--statedb`, and on `inspect`/`status` `--timeout` (they answer from the shared store at once; "
        "`control` keeps it, with `-d` and `-j` everywhere): cfq-shim has no "
        "broadcast channel or event stream, and leases messages per free slot. The finding says which option "
        "went, and why; nothing is left to do.",
        (
            Example(path="bin/start-worker.sh",
                    before="#!/bin/sh\nexec celery -A proj worker \\\n  --without-gossip --without-mingle \\\n  -E -O fair\n",
                    after="#!/bin/sh\nexec cfq-shim -A proj worker\n"),
        ),
        rewrites=True,
    ),
    Rule(
        "CFQ603", "option-moved-to-configuration", "An option that belongs in the app's configuration is removed",
        "`-b/--broker`, "
        "`--result-backend`, `--config`, `--loader`, `-I/--include`, `-X/--exclude-queues`, "
        "`--max-memory-per-child`: cfq-shim takes these from the app (or has no counterpart). The finding says "
        "where the value goes.",
        (
            Example(path="Procfile", before="worker: celery -A proj worker -I proj.extra -l info\n",
                    after="worker: cfq-shim -A proj worker -l info\n"),
        ),
        rewrites=True,
    ),
    Rule(
        "CFQ604", "process-manager-option", "An option the process manager handles is removed",
        "`--uid`, `--gid`, `--umask`, `--executable`, `--workdir`: cfq-shim runs as the user and in the "
        "directory it is started with; set them in the process manager (`User=`, `WorkingDirectory=`, "
        "`user=`, `USER`). `--detach` in a shell script, a Makefile, a CI script, tox's `commands` or a Dockerfile's "
        "`RUN`: what follows it now waits for the worker. (`--pidfile` is kept: cfq-shim worker and beat write one, as Celery's do.)",
        (
            Example(path="deploy/celery.service",
                    before="[Service]\nType=forking\nExecStart=/srv/venv/bin/celery -A proj worker --detach --uid=celery\n",
                    after="[Service]\nType=simple\nExecStart=/srv/venv/bin/cfq-shim -A proj worker\n"),
        ),
        rewrites=True,
    ),
    Rule(
        "CFQ605", "option-kept", "An option cfq-shim does not know is kept",
        "An option the codemod does not know, or options in a variable (`$EXTRA_ARGS`), are left as they are: "
        "cfq-shim refuses an option it does not know, so check them. Celery's daemon variables (`$CELERYD_OPTS`, "
        "`$CELERYBEAT_OPTS`) are the exception when a file of the tree sets them (Celery's `/etc/default/celeryd` "
        "or `/etc/conf.d/celery`, a `.env`, a script): their options are mapped there, option by option, and "
        "the command line that uses them gets no finding. When no file of the tree sets them, the finding "
        "says to map them where they live.",
        (
            Example(path="Procfile", before="worker: celery -A proj worker --custom-flag\n",
                    after="worker: cfq-shim -A proj worker --custom-flag\n"),
        ),
        rewrites=False,
    ),
    Rule(
        "CFQ606", "pool", "An eventlet or gevent pool becomes threads",
        "cfq-shim has prefork, threads and solo pools. `-P eventlet`/`-P gevent` become `-P threads` (code that "
        "relies on monkey-patching needs a look, and a green-thread concurrency of hundreds is too many threads); "
        "`-P processes` becomes `-P prefork`; any other pool is kept and reported.",
        (
            Example(path="Procfile", before="worker: celery -A proj worker -P gevent -c 100\n",
                    after="worker: cfq-shim -A proj worker -P threads -c 100\n"),
        ),
        rewrites=True,
    ),
    Rule(
        "CFQ607", "autoscale", "`--autoscale MAX,MIN` becomes `--concurrency MAX`",
        "cfq-shim runs a fixed number of slots; the autoscaler's maximum is the closest. When `-c` is also given "
        "(or the value is a variable), `--autoscale` is removed.",
        (
            Example(path="Procfile", before="worker: celery -A proj worker --autoscale=10,3\n",
                    after="worker: cfq-shim -A proj worker --concurrency=10\n"),
        ),
        rewrites=True,
    ),
    Rule(
        "CFQ608", "command-without-counterpart", "A Celery command with no cfq-shim counterpart",
        "`celery multi` (run one worker per node under the process manager), `celery flower` (`cfq-shim "
        "dashboard`), `celery events`, `shell`, `call`, `amqp`…, and the `inspect`/`control` actions cfq-shim lacks "
        "(it has inspect active, scheduled, reserved, registered, stats, ping, active_queues, revoked, query_task; "
        "control revoke, terminate, shutdown, rate_limit, time_limit, add_consumer, cancel_consumer): "
        "the line is left as it is, and the finding names what to use instead.",
        (
            Example(path="Procfile", before="flower: celery -A proj flower --port=5555\n",
                    after="flower: celery -A proj flower --port=5555\n"),
        ),
    ),
    Rule(
        "CFQ609", "command-not-rewritten", "A Celery command the codemod cannot rewrite safely",
        "A sub-command in a variable (`celery -A proj $COMMAND`), a command inside a string with escapes or "
        "inside a command substitution (`$(celery -A proj inspect active)`), a "
        "YAML fold that is more than lines joined by spaces (blank or more-indented lines in a `>` block), a Helm "
        "template, a Dockerfile here-document that is not a `RUN <<EOF` shell script (`COPY <<EOF /start.sh`, "
        "`RUN python <<EOF`) and mentions Celery, or text that is not valid shell: left as it is. (A `>` block or a plain scalar over several "
        "lines is rewritten line by line.)",
        (
            Example(path="bin/run.sh", before="#!/bin/sh\ncelery -A proj $COMMAND\n",
                    after="#!/bin/sh\ncelery -A proj $COMMAND\n"),
        ),
    ),
    Rule(
        "CFQ610", "hostname-pattern", "`-n`, `--logfile`, `--pidfile` with `%h`/`%n`/`%d`/`%i`/`%I`/`%p`",
        "cfq-shim uses the worker name and file names as given; Celery's node-name and process-index patterns "
        "are not expanded. Also for `CELERYD_LOG_FILE`, `CELERYD_PID_FILE`, `CELERYBEAT_LOG_FILE` and "
        "`CELERYBEAT_PID_FILE` in Celery's daemon configuration (its docs write `/var/log/celery/%n%I.log`).",
        (
            Example(path="Procfile", before="worker: celery -A proj worker -n worker1@%h\n",
                    after="worker: cfq-shim -A proj worker -n worker1@%h\n"),
            Example(path="deploy/celeryd", before='CELERYD_LOG_FILE="/var/log/celery/%n%I.log"\n',
                    after='CELERYD_LOG_FILE="/var/log/celery/%n%I.log"\n'),
        ),
    ),
    Rule(
        "CFQ611", "beat-scheduler", "A beat scheduler",
        "`-S django_celery_beat.schedulers:DatabaseScheduler` becomes `-S django` (cfq-shim beat reads "
        "django_celery_beat's tables); any other scheduler class is kept and reported.",
        (
            Example(path="Procfile",
                    before="beat: celery -A proj beat -S django_celery_beat.schedulers:DatabaseScheduler\n",
                    after="beat: cfq-shim -A proj beat -S django\n"),
            Example(path="Procfile", before="beat: celery -A proj beat -S redbeat.RedBeatScheduler\n",
                    after="beat: cfq-shim -A proj beat -S redbeat.RedBeatScheduler\n"),
        ),
        rewrites=True,
    ),
    Rule(
        "CFQ612", "pytest-plugin-option", "`-p celery.contrib.pytest` is removed from pytest's options",
        "In `addopts` (`pytest.ini` and `tox.ini` `[pytest]`, `setup.cfg` `[tool:pytest]`, `pyproject.toml` "
        "`[tool.pytest.ini_options]` and pytest 9's `[tool.pytest]`, as a string or a list) and on `pytest`, "
        "`py.test` and `python -m pytest` command lines (Makefile recipes, CI `run:` steps, tox `commands`). "
        "cfq_shim's pytest plugin has Celery's fixtures and loads through its `pytest11` entry point; naming it "
        "again (`-p cfq_shim.contrib.pytest`) would make pytest refuse to start (\"Plugin already registered "
        "under a different name\"). An `addopts` left empty is removed. The Python side is CFQ105.",
        (
            Example(path="pytest.ini", before="[pytest]\naddopts = -p celery.contrib.pytest --strict-markers\n",
                    after="[pytest]\naddopts = --strict-markers\n"),
            Example(path="pyproject.toml",
                    before='[tool.pytest.ini_options]\naddopts = "-ra -p celery.contrib.pytest"\n',
                    after='[tool.pytest.ini_options]\naddopts = "-ra"\n'),
            Example(path="Makefile", before="test:\n\tpytest -p celery.contrib.pytest tests\n",
                    after="test:\n\tpytest tests\n"),
        ),
        rewrites=True,
    ),
    Rule(
        "CFQ701", "broker-url-variable", "`CELERY_BROKER_URL=redis://…` becomes `cloudflare://`",
        "In `.env` files, systemd `Environment=` and environment files, Dockerfile `ENV`, supervisor "
        "`environment=`, compose `environment:` (mapping and list), Kubernetes `env:`, ConfigMaps and Secrets (`data:` in base64, "
        "decoded to be read and written back encoded) and Helm values. Also "
        "`BROKER_URL`, `CELERY_BROKER`, `CELERY_BROKER_READ_URL`/`_WRITE_URL`. The value becomes the run's broker "
        "(`--broker`, default `cloudflare://`); the old URL, credentials included, is dropped. The finding lists "
        "the variables cfq-shim reads (`CLOUDFLARE_API_TOKEN`, `CLOUDFLARE_ACCOUNT_ID`): they belong in the "
        "deployment's secret store, and the codemod never writes them.",
        (
            Example(path=".env", before="CELERY_BROKER_URL=redis://:s3cret@redis:6379/0\nDEBUG=1\n",
                    after="CELERY_BROKER_URL=cloudflare://\nDEBUG=1\n"),
        ),
        rewrites=True,
    ),
    Rule(
        "CFQ702", "broker-url-not-rewritten", "A broker variable the codemod cannot rewrite",
        "The value comes from another variable (`CELERY_BROKER_URL=${REDIS_URL}`), names a broker the "
        "codemod does not know, or has quotes or escapes it does not read: left as it is (the finding shows no "
        "user or password). (A variable with a default, `${CELERY_BROKER_URL:-redis://…}`, "
        "gets `cloudflare://` as its default, and a URL with a variable inside, `redis://:${REDIS_PASSWORD}@redis`, "
        "is replaced whole: CFQ701.)",
        (
            Example(path=".env", before="CELERY_BROKER_URL=${REDIS_URL}\n", after="CELERY_BROKER_URL=${REDIS_URL}\n"),
        ),
    ),
    Rule(
        "CFQ711", "celery-dependency", "`celery[redis]` becomes `celery2cfq`",
        "In requirements files, `.in` files, `pyproject.toml` (PEP 621, PEP 735 `[dependency-groups]` and "
        "Poetry, whose `[tool.poetry.extras]` follow the new name), `Pipfile` and `setup.cfg`. The pin style "
        "(`==`, `>=`, `~=`, Poetry's `^`/`~`, unpinned), environment markers and comments are kept. `[redis]` and "
        "`[sqlalchemy]` stay (celery2cfq's extras for those result backends); Celery's other extras are dropped. "
        "The finding says what it became.",
        (
            Example(path="requirements.txt", before="celery[redis]==5.3.4  # the task queue\ndjango==5.0\n",
                    after="celery2cfq[redis]==0.1.0  # the task queue\ndjango==5.0\n"),
            Example(path="pyproject.toml",
                    before='[tool.poetry.dependencies]\npython = "^3.11"\ncelery = {extras = ["msgpack"], version = "^5.3"}\n',
                    after='[tool.poetry.dependencies]\npython = "^3.11"\ncelery2cfq = "^0.1.0"\n'),
        ),
        rewrites=True,
    ),
    Rule(
        "CFQ712", "companion-dependency", "Celery's companion packages: still needed or not",
        "`pytest-celery` (cfq_shim's plugin has the fixtures; pytest-celery would install Celery again), "
        "`django-celery-beat` (needed only for schedules in the database, `cfq-shim beat -S django`), "
        "`django-celery-results` (only for `result_backend = 'django-db'`), `flower` (replaced by `cfq-shim "
        "dashboard`), `kombu`, `redis` (only for a redis:// result backend or the project's own use), `amqp`: "
        "left in place, with a finding.",
        (
            Example(path="requirements.in", before="flower>=2\n", after="flower>=2\n"),
        ),
    ),
    Rule(
        "CFQ713", "hashed-requirements", "A requirements file with hashes is not edited",
        "Changing a line would leave its `--hash` wrong; regenerate the file from its source after the "
        "migration.",
        (
            Example(path="requirements.txt", before="celery==5.3.4 \\\n    --hash=sha256:aaaa\n",
                    after="celery==5.3.4 \\\n    --hash=sha256:aaaa\n"),
        ),
    ),
    Rule(
        "CFQ714", "compiled-requirements", "A pip-compile output or a lock file is not edited",
        "A file generated by pip-compile (or `uv pip compile`) is re-compiled from its `.in`, which the codemod "
        "edits; a `poetry.lock`, `uv.lock`, `pdm.lock` or `Pipfile.lock` that pins celery is re-locked once "
        "`pyproject.toml` or the `Pipfile` names celery2cfq. The finding names the command.",
        (
            Example(path="requirements.txt",
                    before="#\n# This file is autogenerated by pip-compile with Python 3.12\n#\ncelery==5.3.4\n",
                    after="#\n# This file is autogenerated by pip-compile with Python 3.12\n#\ncelery==5.3.4\n"),
            Example(path="poetry.lock", before='[[package]]\nname = "celery"\nversion = "5.3.6"\n',
                    after='[[package]]\nname = "celery"\nversion = "5.3.6"\n'),
        ),
    ),
)

FILE_RULES: Mapping[str, Rule] = {rule.code: rule for rule in _RULES}
FILE_CODES: frozenset[str] = frozenset(FILE_RULES)

#: Findings that leave a person something to do (the rest only report what was done).
MANUAL_CODES = frozenset({
    "CFQ603", "CFQ604", "CFQ605", "CFQ606", "CFQ608", "CFQ609", "CFQ610", "CFQ611", "CFQ701", "CFQ702", "CFQ713",
    "CFQ714",
})

#: The code whose --skip turns off the rewrites of a format (findings follow --only/--skip one by one).
REWRITE_GATES = {"env": "CFQ701", "requirements": "CFQ711", "pyproject": "CFQ711", "setup.cfg": "CFQ711",
                 "pipfile": "CFQ711",
                 "ini": "CFQ612"}
