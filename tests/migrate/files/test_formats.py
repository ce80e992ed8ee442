"""Each format through the real engine: exact output, byte-identical failures, secrets, options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from celery2cfq.engine import run
from celery2cfq.files import kind_of
from celery2cfq.model import Options
from files_support import migrate


@pytest.mark.parametrize(("key", "kind"), [
    ("Procfile", "procfile"), ("Procfile.dev", "procfile"), ("docker/Dockerfile", "dockerfile"),
    ("Dockerfile.worker", "dockerfile"), ("worker.Dockerfile", "dockerfile"), ("Makefile", "makefile"),
    ("bin/run.sh", "shell"), ("deploy/celery.service", "systemd"), ("etc/supervisord.conf", "supervisor"),
    ("docker-compose.yml", "yaml"), ("k8s/worker.yaml", "yaml"), (".env", "env"), (".env.example", "env"),
    ("prod.env", "env"), ("default/celeryd", "env"), ("requirements.txt", "requirements"),
    ("requirements-dev.in", "requirements"), ("requirements/base.txt", "requirements"),
    ("pyproject.toml", "pyproject"), ("setup.cfg", "setup.cfg"), ("bin/start", "script?"),
    ("tox.ini", "ini"), ("pytest.ini", "ini"), ("mypy.ini", None),
    ("proj/tasks.py", None), ("README.md", None), ("notes.txt", None),
])
def test_kind_of(key, kind):
    assert kind_of(key) == kind


def test_only_python_leaves_other_files_alone(tmp_path):
    files = {"Procfile": "worker: celery -A proj worker\n", "requirements.txt": "celery==5.3\n"}
    result, after = migrate(tmp_path, files, only_python=True)
    assert after == files
    assert result.summary.files_scanned == 0


def test_check_reports_and_exit_codes_cover_other_files(tmp_path):
    (tmp_path / "Procfile").write_text("worker: celery -A proj worker\n")
    result = run([tmp_path], options=Options(), jobs=1, write=False)
    assert result.exit_code(check_or_diff=True) == 1
    assert result.files[0].diff.startswith(f"--- a/{tmp_path.as_posix()}/Procfile")
    assert (tmp_path / "Procfile").read_text() == "worker: celery -A proj worker\n"


def test_an_extensionless_file_is_read_only_with_a_shell_shebang(tmp_path):
    files = {"bin/start": "#!/bin/bash\ncelery -A proj worker\n", "bin/notes": "celery -A proj worker\n",
             # env -S (split arguments): the shell is the first word that is not an option
             "bin/strict": "#!/usr/bin/env -S bash -euo pipefail\ncelery -A proj worker\n"}
    _, after = migrate(tmp_path, files)
    assert after == {"bin/start": "#!/bin/bash\ncfq-shim -A proj worker\n", "bin/notes": "celery -A proj worker\n",
                     "bin/strict": "#!/usr/bin/env -S bash -euo pipefail\ncfq-shim -A proj worker\n"}


@pytest.mark.parametrize(("name", "text", "message"), [
    ("docker-compose.yml", "services:\n  w:\n    command: celery -A p worker\n   bad: [\n", "could not read the YAML"),
    ("pyproject.toml", "[project\ndependencies = ['celery']\n", "could not read the TOML"),
    # tomlkit names the end of the text '\x00': the file holds no such byte
    ("pyproject.toml", "[project]\ndependencies = [\n  'celery',\n", "could not read the TOML (Unexpected character: end of file"),
    ("setup.cfg", "[options]\ninstall_requires = celery\n[options]\n", "could not read setup.cfg"),
    ("run.sh", "#!/bin/sh\ncelery -A p worker 'unterminated\n", "could not read the shell script"),
])
def test_unparseable_files_are_reported_and_left_byte_identical(tmp_path, name, text, message):
    result, after = migrate(tmp_path, {name: text})
    assert after == {name: text}
    assert result.files[0].error is not None and message in result.files[0].error
    assert result.exit_code(check_or_diff=False) == 2


def test_a_helm_template_is_reported_not_failed(tmp_path):
    text = "metadata:\n  name: {{ .Release.Name }}-worker\nspec:\n  args: [celery, worker]\n"
    result, after = migrate(tmp_path, {"chart/templates/w.yaml": text})
    assert after == {"chart/templates/w.yaml": text}
    assert [f.code for f in result.files[0].findings] == ["CFQ609"]
    assert result.files[0].error is None


def test_credentials_in_a_broker_url_never_reach_the_report(tmp_path):
    files = {".env": "CELERY_BROKER_URL=redis://:hunter2@redis:6379/0\n",
             "docker-compose.yml": "services:\n  w:\n    environment:\n      CELERY_BROKER_URL: amqp://u:hunter2@mq//\n"}
    result, after = migrate(tmp_path, files)
    assert after == {".env": "CELERY_BROKER_URL=cloudflare://\n",
                     "docker-compose.yml": "services:\n  w:\n    environment:\n      CELERY_BROKER_URL: cloudflare://\n"}
    from celery2cfq.report import render

    for fmt in ("text", "json", "markdown"):
        report = render(result, format=fmt, mode="write")
        findings_part = report if fmt != "json" else json.dumps([f["findings"] for f in json.loads(report)["files"]])
        assert "hunter2" not in findings_part.replace(result.files[0].diff, "").replace(result.files[1].diff, "")
    assert all("CLOUDFLARE_API_TOKEN" in f.message for r in result.files for f in r.findings)


def test_broker_option_is_used_and_no_cloudflare_variables_are_asked_for_sqlite(tmp_path):
    result, after = migrate(tmp_path, {".env": "BROKER_URL='redis://x'\n"}, options=Options(broker="sqlite:///tasks.db"))
    assert after == {".env": "BROKER_URL='sqlite:///tasks.db'\n"}
    assert "CLOUDFLARE" not in result.files[0].findings[0].message


def test_skip_turns_off_rewrites_of_a_format_and_only_selects_findings(tmp_path):
    files = {"Procfile": "worker: celery -A proj worker -E\n"}
    result, after = migrate(tmp_path, files, options=Options(skip=frozenset({"CFQ601"})))
    assert after == files
    assert [f.code for f in result.files[0].findings] == ["CFQ602"]
    result, _ = migrate(tmp_path, files, options=Options(skip=frozenset({"CFQ602"})))
    assert result.files[0].findings == ()


def test_yaml_block_lists_are_edited_item_by_item(tmp_path):
    text = ("args:\n  - celery\n  - worker\n  - --app=proj  # the app\n  - -E\n  - -l\n  - info\n"
            "other: [a, b]\n")
    _, after = migrate(tmp_path, {"deploy.yaml": text})
    assert after["deploy.yaml"] == ("args:\n  - cfq-shim\n  - --app=proj\n  - worker\n  - -l\n  - info\n"
                                    "other: [a, b]\n")


def test_yaml_flow_lists_keep_their_quoting(tmp_path):
    text = "command: ['celery', 'worker', '-E', '--app=proj']\n"
    _, after = migrate(tmp_path, {"compose.yaml": text})
    assert after["compose.yaml"] == "command: ['cfq-shim', '--app=proj', 'worker']\n"


def test_second_run_changes_nothing_across_formats(tmp_path):
    corpus = Path(__file__).resolve().parents[3] / "corpus"
    for case in sorted(corpus.glob("files_*")):
        target = tmp_path / case.name
        import shutil

        shutil.copytree(case / "after", target)
        result = run([target], options=Options(), jobs=2, write=False)
        assert result.summary.files_changed == 0, case.name


def test_cli_only_python_and_check(tmp_path):
    from click.testing import CliRunner

    from celery2cfq.cli import main

    (tmp_path / "Procfile").write_text("worker: celery -A proj worker -E\n")
    runner = CliRunner()
    checked = runner.invoke(main, ["rewrite", "--check", str(tmp_path)])
    assert checked.exit_code == 1
    assert "CFQ602 `-E` was removed" in checked.output
    assert runner.invoke(main, ["rewrite", "--check", "--only-python", str(tmp_path)]).exit_code == 0
    assert (tmp_path / "Procfile").read_text() == "worker: celery -A proj worker -E\n"


def test_crlf_line_endings_are_kept(tmp_path):
    (tmp_path / "Procfile").write_bytes(b"web: gunicorn app\r\nworker: celery -A proj worker -E\r\n")
    run([tmp_path], options=Options(), jobs=1, write=True)
    assert (tmp_path / "Procfile").read_bytes() == b"web: gunicorn app\r\nworker: cfq-shim -A proj worker\r\n"


def test_dockerfile_exec_form_with_sh_c_and_legacy_env(tmp_path):
    text = ('ENV CELERY_BROKER_URL redis://redis:6379/0\n'
            'CMD ["sh", "-c", "celery -A proj worker --without-mingle -Q $QUEUES"]\n')
    _, after = migrate(tmp_path, {"Dockerfile": text})
    assert after["Dockerfile"] == ('ENV CELERY_BROKER_URL cloudflare://\n'
                                   'CMD ["sh", "-c", "cfq-shim -A proj worker -Q $QUEUES"]\n')


@pytest.mark.parametrize(("before", "after"), [
    # A fold joins lines with a space; a removed option takes its own line, or its blank on a shared one.
    ("    command: >\n      celery -A proj\n      worker -E\n", "    command: >\n      cfq-shim -A proj\n      worker\n"),
    ("    command: >-\n      celery -A proj worker\n      --without-gossip\n      -l info -E\n",
     "    command: >-\n      cfq-shim -A proj worker\n      -l info\n"),
    ("    command: >\n      celery -A proj worker\n      --without-gossip\n", "    command: >\n      cfq-shim -A proj worker\n"),
    ("    command: >\n      celery worker\n      --app=proj -c 2\n", "    command: >\n      cfq-shim --app=proj worker\n      -c 2\n"),
    # A plain scalar over several lines folds the same way.
    ("    command: celery -A proj worker\n      --without-mingle -c 2\n", "    command: cfq-shim -A proj worker\n      -c 2\n"),
])
def test_a_folded_yaml_command_is_rewritten_line_by_line(tmp_path, before, after):
    result, files = migrate(tmp_path, {"docker-compose.yml": "services:\n  w:\n" + before})
    assert files["docker-compose.yml"] == "services:\n  w:\n" + after
    assert "CFQ609" not in [f.code for f in result.files[0].findings]
    assert run([tmp_path], options=Options(), jobs=1, write=False).summary.files_changed == 0


@pytest.mark.parametrize("before", [
    "    command: >\n      celery -A proj worker\n\n      -E\n",  # a blank line folds to a line break
    "    command: >\n      celery -A proj worker\n        -E\n",  # a more-indented line keeps its break
])
def test_a_yaml_fold_that_is_not_plain_spaces_is_reported_not_rewritten(tmp_path, before):
    text = "services:\n  w:\n" + before
    result, after = migrate(tmp_path, {"docker-compose.yml": text})
    assert after["docker-compose.yml"] == text
    assert [f.code for f in result.files[0].findings] == ["CFQ609"]


def test_a_github_actions_run_block_is_rewritten(tmp_path):
    text = ("jobs:\n  test:\n    steps:\n      - run: |\n          celery -A proj worker --detach\n"
            "          pytest\n")
    result, after = migrate(tmp_path, {".github/workflows/ci.yml": text})
    assert after[".github/workflows/ci.yml"] == text.replace("celery -A proj worker --detach", "cfq-shim -A proj worker")
    assert [f.code for f in result.files[0].findings] == ["CFQ604"]


def test_poetry_extras_follow_the_renamed_dependency(tmp_path):
    before = ('[tool.poetry.dependencies]\npython = "^3.11"\nCelery = {version = "^5.3", optional = true}\n\n'
              '[tool.poetry.group.ops.dependencies]\nflower = "^2"\n\n'
              '[tool.poetry.extras]\nqueue = ["celery", "redis"]\nother = ["redis"]\n')
    result, files = migrate(tmp_path, {"pyproject.toml": before})
    assert files["pyproject.toml"] == (
        '[tool.poetry.dependencies]\npython = "^3.11"\ncelery2cfq = {version = "^0.1.0", optional = true}\n\n'
        '[tool.poetry.group.ops.dependencies]\nflower = "^2"\n\n'
        '[tool.poetry.extras]\nqueue = ["celery2cfq", "redis"]\nother = ["redis"]\n')
    assert [f.code for f in result.files[0].findings] == ["CFQ711", "CFQ712"]



def test_a_gitlab_script_list_is_one_shell_line_per_item(tmp_path):
    text = ("test:\n  before_script:\n    - pip install -r requirements.txt\n  script:\n"
            "    - celery -A proj worker --detach -E\n    - pytest -p celery.contrib.pytest\n")
    result, after = migrate(tmp_path, {".gitlab-ci.yml": text})
    assert after[".gitlab-ci.yml"] == text.replace("celery -A proj worker --detach -E", "cfq-shim -A proj worker").replace(
        "pytest -p celery.contrib.pytest", "pytest")
    # A CI script goes on to its next line: the worker no longer detaching is a manual step there.
    assert sorted(f.code for f in result.files[0].findings) == ["CFQ602", "CFQ604", "CFQ612"]


def test_pipfile_dependency_groups_and_lock_files(tmp_path):
    files = {
        "Pipfile": '[packages]\ndjango = "*"\ncelery = {extras = ["redis"], version = "==5.3.6"}\n\n[dev-packages]\n'
                   'pytest-celery = "*"\n',
        "pyproject.toml": '[project]\nname = "x"\n\n[dependency-groups]\nworker = ["celery[redis]>=5.3"]\n',
        "poetry.lock": '[[package]]\nname = "kombu"\nversion = "5.3.4"\n\n[[package]]\nname = "celery"\nversion = "5.3.6"\n',
        "Pipfile.lock": '{"_meta": {}, "default": {"celery": {"version": "==5.3.6"}}, "develop": {}}\n',
        "uv.lock": '[[package]]\nname = "django"\nversion = "5.0"\n',  # no celery in it: nothing to say
    }
    result, after = migrate(tmp_path, files)
    assert after["Pipfile"] == files["Pipfile"].replace('celery = {extras = ["redis"], version = "==5.3.6"}',
                                                        'celery2cfq = {extras = ["redis"], version = "==0.1.0"}')
    assert after["pyproject.toml"] == files["pyproject.toml"].replace("celery[redis]>=5.3", "celery2cfq[redis]>=0.1.0")
    for lock in ("poetry.lock", "Pipfile.lock", "uv.lock"):
        assert after[lock] == files[lock]
    codes = {r.path.rsplit("/", 1)[-1]: [(f.code, f.line) for f in r.findings] for r in result.files}
    assert codes["poetry.lock"] == [("CFQ714", 6)] and codes["Pipfile.lock"] == [("CFQ714", 1)]
    assert "run `pipenv lock`" in result.files[[r.path.endswith("Pipfile.lock") for r in result.files].index(True)].findings[0].message
    assert codes["uv.lock"] == [] and codes["pyproject.toml"] == [("CFQ711", 5)]
    assert sorted(codes["Pipfile"]) == [("CFQ711", 3), ("CFQ712", 6)]
    assert run([tmp_path], options=Options(), jobs=1, write=False).summary.files_changed == 0


def test_an_unreadable_lock_file_is_reported(tmp_path):
    result, after = migrate(tmp_path, {"poetry.lock": '[[package]\nname = "celery"\n'})
    assert after["poetry.lock"] == '[[package]\nname = "celery"\n'
    assert "could not read the lock file" in result.files[0].error


@pytest.mark.parametrize(("name", "before", "after"), [
    ("docker-compose.yml", "services:\n  w:\n    environment:\n      CELERY_BROKER_URL: ${CELERY_BROKER_URL:-redis://r:6379/0}\n",
     "services:\n  w:\n    environment:\n      CELERY_BROKER_URL: ${CELERY_BROKER_URL:-cloudflare://}\n"),
    ("docker-compose.yml", "services:\n  w:\n    environment:\n      - CELERY_BROKER_URL=${BROKER-amqp://u:pw@mq//}\n",
     "services:\n  w:\n    environment:\n      - CELERY_BROKER_URL=${BROKER-cloudflare://}\n"),
    (".env", 'export BROKER_URL="${BROKER_URL:-redis://localhost}"\n', 'export BROKER_URL="${BROKER_URL:-cloudflare://}"\n'),
])
def test_a_broker_variable_with_a_default_gets_a_new_default(tmp_path, name, before, after):
    result, files = migrate(tmp_path, {name: before})
    assert files[name] == after
    (finding,) = result.files[0].findings
    assert finding.code == "CFQ701" and "is set, set it to cloudflare:// too" in finding.message
    assert "pw@" not in finding.message
    again = run([tmp_path], options=Options(), jobs=1, write=False)
    assert again.summary.files_changed == 0 and not again.files[0].findings


def test_a_kubernetes_secret_value_is_rewritten_in_base64_and_never_shown(tmp_path):
    import base64

    old = base64.b64encode(b"redis://:hunter2@redis:6379/0").decode()
    text = (f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: celery\ndata:\n  CELERY_BROKER_URL: {old}\n"
            "  OTHER: aGk=\n---\nkind: ConfigMap\ndata:\n  CELERY_BROKER_URL: amqp://mq//\n")
    result, after = migrate(tmp_path, {"k8s/secret.yaml": text})
    new = base64.b64encode(b"cloudflare://").decode()
    assert after["k8s/secret.yaml"] == text.replace(old, new).replace("amqp://mq//", "cloudflare://")
    assert [(f.code, f.line) for f in result.files[0].findings] == [("CFQ701", 6), ("CFQ701", 11)]
    assert all("hunter2" not in f.message and old not in f.message for f in result.files[0].findings)
    assert run([tmp_path], options=Options(), jobs=1, write=False).summary.files_changed == 0


def test_compose_healthchecks(tmp_path):
    text = ('services:\n  w:\n    healthcheck:\n      test: ["CMD-SHELL", "celery -A proj inspect ping -d celery@$$HOSTNAME"]\n'
            '  v:\n    healthcheck:\n      test: ["CMD", "celery", "-A", "proj", "status"]\n'
            "  u:\n    healthcheck:\n      test: celery -A proj inspect ping\n")
    result, after = migrate(tmp_path, {"docker-compose.yml": text})
    assert after["docker-compose.yml"] == text.replace('"celery -A', '"cfq-shim -A').replace(
        '"celery", "-A"', '"cfq-shim", "-A"').replace("test: celery", "test: cfq-shim")
    assert not result.files[0].findings


def test_a_ci_configurations_broker_finding_names_the_test_brokers(tmp_path):
    files = {".github/workflows/ci.yml": "jobs:\n  t:\n    env:\n      CELERY_BROKER_URL: redis://localhost:6379/0\n",
             ".env": "CELERY_BROKER_URL=redis://localhost:6379/0\n"}
    result, _ = migrate(tmp_path, files)
    messages = {r.path.rsplit("/", 1)[-1]: r.findings[0].message for r in result.files}
    assert "memory://" in messages["ci.yml"] and "sqlite:///tasks.db" in messages["ci.yml"]
    assert "memory://" not in messages[".env"]


def test_dockerfile_here_document_bodies_are_not_instructions(tmp_path):
    # A here-document's lines are text, not instructions: "from proj import app" is no FROM (which
    # split the stage and lost the ENTRYPOINT + CMD pair), "env ..." no ENV.
    before = ('# syntax=docker/dockerfile:1\nFROM python:3.12\nENTRYPOINT ["celery", "-A", "proj"]\n'
              'RUN python <<EOF\nfrom proj import app\nprint(app) \\\nEOF\n'
              'COPY <<-"CONF" /etc/proj.env\n\tenv CELERY_BROKER_URL=redis://r:6379/0\n\tCONF\n'
              'CMD ["worker", "--without-gossip"]\n')
    result, files = migrate(tmp_path, {"Dockerfile": before})
    assert files["Dockerfile"] == before.replace('"celery"', '"cfq-shim"').replace(', "--without-gossip"', "")
    assert [(f.line, f.code) for f in result.files[0].findings] == [(9, "CFQ609"), (11, "CFQ602")]
    assert run([tmp_path], options=Options(), jobs=1, write=False).summary.files_changed == 0


def test_dockerfile_run_here_document_is_a_shell_script(tmp_path):
    before = "FROM p\nRUN <<EOF\nset -e\ncelery -A proj purge -f\nEOF\nCMD celery -A proj worker -E\n"
    result, files = migrate(tmp_path, {"Dockerfile": before})
    assert files["Dockerfile"] == before.replace("celery", "cfq-shim").replace(" -E", "")
    assert run([tmp_path], options=Options(), jobs=1, write=False).summary.files_changed == 0


def test_dockerfile_run_here_document_with_a_python_shebang_is_not_read_as_shell(tmp_path):
    before = "FROM p\nRUN <<EOF\n#!/usr/bin/env python3\nfrom celery import Celery\nprint('celery')\nEOF\n"
    result, files = migrate(tmp_path, {"Dockerfile": before})
    assert files["Dockerfile"] == before
    assert [(f.line, f.code) for f in result.files[0].findings] == [(3, "CFQ609")]


@pytest.mark.parametrize(("name", "before", "after"), [
    # Only the password comes from a variable: the URL is Redis all the same (as in Python, where
    # f"redis://:{password}@redis" is replaced). It was told to be fixed "where REDIS_PASSWORD is set".
    ("docker-compose.yml", 'services:\n  w:\n    environment:\n      - "CELERY_BROKER_URL=redis://:${REDIS_PASSWORD}@redis:6379/0"\n',
     'services:\n  w:\n    environment:\n      - "CELERY_BROKER_URL=cloudflare://"\n'),
    (".env", "CELERY_BROKER_URL=amqp://app:$RABBIT_PASSWORD@rabbit//\n", "CELERY_BROKER_URL=cloudflare://\n"),
])
def test_a_broker_url_with_a_variable_inside_is_replaced(tmp_path, name, before, after):
    result, files = migrate(tmp_path, {name: before})
    assert files[name] == after
    assert [f.code for f in result.files[0].findings] == ["CFQ701"]


def test_a_broker_value_that_cannot_be_read_is_reported_without_its_credentials(tmp_path):
    # An escaped quote in the value: it was skipped without a word.
    before = 'BROKER_URL="amqp://u:p\\"wd@rabbit//"\nCELERY_BROKER_URL=${SCHEME}://user:s3cret@host\n'
    result, files = migrate(tmp_path, {".env": before})
    assert files[".env"] == before
    findings = result.files[0].findings
    assert [(f.line, f.code) for f in findings] == [(1, "CFQ702"), (2, "CFQ702")]
    assert "s3cret" not in str(findings) and "wd@" not in str(findings)


def test_dependency_findings_are_at_their_own_lines(tmp_path):
    # The same requirement in two arrays, or a key in two tables, was found at its first spelling
    # in the file (`celery` even at `celery-redbeat`): wrong lines, and equal findings merged into one.
    before = ('[project]\nname = "x"\ndependencies = ["django", "flower"]\n\n'
              '[project.optional-dependencies]\nworker = ["celery[redis]>=5"]\n\n'
              '[dependency-groups]\nops = ["flower"]\ndev = ["celery[redis]>=5"]\n\n'
              '[tool.poetry.dependencies]\ncelery-redbeat = "*"\nflower = "*"\n\n'
              '[tool.poetry.group.dev.dependencies]\n"celery" = "^5.3"\nflower = "*"\n')
    result, _ = migrate(tmp_path, {"pyproject.toml": before})
    assert [(f.line, f.code) for f in result.files[0].findings] == [
        (3, "CFQ712"), (6, "CFQ711"), (9, "CFQ712"), (10, "CFQ711"), (14, "CFQ712"), (17, "CFQ711"), (18, "CFQ712")]
    result, _ = migrate(tmp_path / "p", {"Pipfile": '[packages]\nflower = "*"\n\n[dev-packages]\nflower = "*"\ncelery = "*"\n'})
    assert [(f.line, f.code) for f in result.files[0].findings] == [(2, "CFQ712"), (5, "CFQ712"), (6, "CFQ711")]


def test_a_requirement_from_a_vcs_url_named_by_egg_is_reported(tmp_path):
    # pip's "-e git+…#egg=celery" (and without -e): celery would still be installed, silently.
    before = ("-e git+https://github.com/celery/celery.git#egg=celery\n"
              "git+https://github.com/celery/celery.git@v5.3.6#egg=celery[redis]\n"
              "--editable=git+https://github.com/celery/kombu.git#subdirectory=x&egg=kombu\n"
              "-e git+https://github.com/org/other.git#egg=other\n")
    result, files = migrate(tmp_path, {"requirements.txt": before})
    assert files["requirements.txt"] == before
    assert [(f.line, f.code) for f in result.files[0].findings] == [(1, "CFQ711"), (2, "CFQ711"), (3, "CFQ712")]


def test_poetry_multiple_constraints_are_reported_as_such(tmp_path):
    before = ('[tool.poetry.dependencies]\ncelery = [\n    {version = "^5.3", python = "<3.12"},\n'
              '    {version = "^5.4", python = ">=3.12"},\n]\n')
    result, files = migrate(tmp_path, {"pyproject.toml": before})
    assert files["pyproject.toml"] == before
    (finding,) = result.files[0].findings
    assert finding.code == "CFQ711" and "several constraints" in finding.message


@pytest.mark.parametrize(("name", "before", "line"), [
    # tox runs its commands one after the other: a worker that no longer detaches holds up the
    # next one, as in a script (CFQ604 says so); it was CFQ602, "as the process manager expects".
    ("tox.ini", "[testenv]\ncommands =\n    celery -A proj worker --detach\n    pytest\n", 3),
    # So does a Dockerfile's RUN, a build step (only CMD and ENTRYPOINT run under a process manager).
    ("Dockerfile", "FROM p\nRUN celery -A proj worker --detach && python -m pytest\n", 2),
    ("Dockerfile", "FROM p\nRUN <<EOF\ncelery -A proj worker --detach\npython -m pytest\nEOF\n", 3),
])
def test_a_detached_worker_in_a_sequence_of_commands_is_cfq604(tmp_path, name, before, line):
    result, files = migrate(tmp_path, {name: before})
    assert files[name] == before.replace("celery", "cfq-shim").replace(" --detach", "")
    assert [(f.line, f.code) for f in result.files[0].findings] == [(line, "CFQ604")]


def test_su_c_scripts_are_followed_and_substitutions_reported(tmp_path):
    # `su app -c "celery …"` (also runuser, su -s /bin/sh -m app -c): its script is followed as sh -c's
    # is; a Celery command inside $(…) or `…` gets CFQ609. Both were silently left.
    before = ('#!/bin/sh\nsu app -c "celery -A proj worker -E"\nrunuser -u app -- sh -c "celery -A proj beat"\n'
              "su -s /bin/sh -m app -c 'celery -A proj worker --without-gossip'\n"
              'OUT="$(celery -A proj inspect active -d \'w@h\')"\nPIDS=`celery -A proj inspect ping`\nCELERY=$(which celery)\n')
    result, files = migrate(tmp_path, {"start.sh": before})
    assert files["start.sh"] == (before.replace('su app -c "celery -A proj worker -E"', 'su app -c "cfq-shim -A proj worker"')
                                 .replace('"celery -A proj beat"', '"cfq-shim -A proj beat"')
                                 .replace("'celery -A proj worker --without-gossip'", "'cfq-shim -A proj worker'"))
    assert [(f.line, f.code) for f in result.files[0].findings] == [
        (2, "CFQ602"), (4, "CFQ602"), (5, "CFQ609"), (6, "CFQ609")]


def test_options_after_an_escaped_substitution_are_read(tmp_path):
    before = "w:\n\tcelery -A proj worker -n w@$$(hostname) -E --without-gossip\n"
    result, files = migrate(tmp_path, {"Makefile": before})
    assert files["Makefile"] == "w:\n\tcfq-shim -A proj worker -n w@$$(hostname)\n"
    assert [f.code for f in result.files[0].findings] == ["CFQ602", "CFQ602"]


def test_a_dockerfile_here_document_marker_without_its_end_is_no_here_document(tmp_path):
    # "<<" inside a quoted string: the rest of the file is not swallowed as a body.
    before = 'FROM p\nRUN echo "use <<EOF here"\nCMD celery -A proj worker -E\n'
    _, files = migrate(tmp_path, {"Dockerfile": before})
    assert files["Dockerfile"] == 'FROM p\nRUN echo "use <<EOF here"\nCMD cfq-shim -A proj worker\n'


@pytest.mark.parametrize(("name", "before"), [
    # CircleCI: run: {name, command}; the command is a step of a script, not under a process manager.
    (".circleci/config.yml", "jobs:\n  t:\n    steps:\n      - run:\n          name: w\n          command: celery -A proj worker --detach\n      - run: pytest\n"),
    # Azure Pipelines: a bash: step (it was not read at all).
    ("azure-pipelines.yml", "steps:\n- bash: |\n    celery -A proj worker --detach\n    pytest\n"),
])
def test_ci_steps_are_scripts(tmp_path, name, before):
    result, files = migrate(tmp_path, {name: before})
    assert files[name] == before.replace("celery -A proj worker --detach", "cfq-shim -A proj worker")
    assert [f.code for f in result.files[0].findings] == ["CFQ604"]


def test_a_broken_workflow_is_an_error_not_a_template(tmp_path):
    # GitHub Actions' ${{ … }} expressions do not make a workflow a template: a YAML error in it
    # was reported as CFQ609 "a template, not YAML" (exit 0) instead of a file that failed.
    text = "on: push\njobs:\n  t:\n    steps:\n      - run: celery -A p worker ${{ matrix.x }}\n     bad: [\n"
    result, after = migrate(tmp_path, {".github/workflows/ci.yml": text})
    assert after == {".github/workflows/ci.yml": text}
    assert "could not read the YAML" in (result.files[0].error or "")


def test_a_lock_files_finding_is_at_the_celery_package(tmp_path):
    # uv.lock lists celery as a dependency of other packages ({ name = "celery" }) before and after
    # its own [[package]]: the finding was at the last "celery" of the two first spellings found.
    text = ('[[package]]\nname = "django-celery-beat"\nversion = "2.5.0"\ndependencies = [\n    { name = "celery" },\n]\n\n'
            '[[package]]\nname = "celery"\nversion = "5.3.6"\n\n[[package]]\nname = "flower"\nversion = "2.0"\n'
            'dependencies = [\n    { name = "celery" },\n]\n')
    result, _ = migrate(tmp_path, {"uv.lock": text})
    assert [(f.code, f.line) for f in result.files[0].findings] == [("CFQ714", 9)]


def test_a_requirement_comment_after_a_tab(tmp_path):
    # pip ends a line at "#" after any blank; after a tab the line was unreadable, and skipped silently.
    before = "celery==5.3.6\t# pinned\nflower==2.0\t#x\n"
    result, files = migrate(tmp_path, {"requirements.txt": before})
    assert files["requirements.txt"] == "celery2cfq==0.1.0\t# pinned\nflower==2.0\t#x\n"
    assert [(f.line, f.code) for f in result.files[0].findings] == [(1, "CFQ711"), (2, "CFQ712")]
