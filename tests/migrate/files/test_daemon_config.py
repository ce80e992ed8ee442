"""Celery's daemon configuration (/etc/default/celeryd, /etc/conf.d/celery): the file is found by its
lines, its option variables are mapped, and a command line using them is judged with the whole tree."""

from __future__ import annotations

import pytest
from files_support import migrate

from celery2cfq.engine import run
from celery2cfq.files import build_index, kind_of, might_need_work
from celery2cfq.model import Options

UNIT = ("[Service]\nEnvironmentFile=/etc/conf.d/celery\n"
        "ExecStart=/bin/sh -c '${CELERY_BIN} -A $CELERY_APP worker --loglevel=INFO $CELERYD_OPTS'\n")


@pytest.mark.parametrize("name", ["deploy/conf.d/celery", "etc/default/celeryd", "deploy/celery.conf",
                                  "config/celery-worker"])
def test_a_daemon_config_is_an_environment_file_whatever_its_name(tmp_path, name):
    text = '# read by systemd\nCELERY_BIN="/usr/local/bin/celery"\nCELERYD_OPTS="--max-memory-per-child=300 -c 8"\n'
    result, files = migrate(tmp_path, {name: text})
    assert files[name] == '# read by systemd\nCELERY_BIN="/usr/local/bin/cfq-shim"\nCELERYD_OPTS="-c 8"\n'
    assert [(f.code, f.line) for f in result.files[0].findings] == [("CFQ603", 3)]


@pytest.mark.parametrize(("name", "text"), [
    ("deploy/celery", "celery is our task queue\n"),  # no shebang, no daemon variable
    ("deploy/celery.conf", "[celery]\nqueues = a,b\n"),  # an INI file of the project's own
])
def test_other_files_with_those_names_are_not_read(tmp_path, name, text):
    assert not might_need_work(text.encode(), kind_of(name))
    result, files = migrate(tmp_path, {name: text})
    assert files[name] == text and result.summary.files_scanned == 1 and not result.files[0].findings


def test_options_variable_set_in_the_tree_leaves_the_command_line_without_a_finding(tmp_path):
    files = {"deploy/celery.service": UNIT, "deploy/conf.d/celery": 'CELERYD_OPTS="--without-mingle -c 4"\n'}
    result, after = migrate(tmp_path, files)
    assert after["deploy/conf.d/celery"] == 'CELERYD_OPTS="-c 4"\n'
    findings = {r.path.rsplit("/", 1)[-1]: [f.code for f in r.findings] for r in result.files}
    assert findings == {"celery.service": [], "celery": ["CFQ602"]}
    assert after["deploy/celery.service"] == UNIT  # ${CELERY_BIN} names cfq-shim where it is set


def test_options_variable_set_outside_the_tree_says_where_to_map_it(tmp_path):
    result, after = migrate(tmp_path, {"deploy/celery.service": UNIT})
    assert after["deploy/celery.service"] == UNIT
    (finding,) = result.files[0].findings
    assert finding.code == "CFQ605" and finding.line == 3
    assert finding.message.startswith("$CELERYD_OPTS is set outside this tree (Celery's daemon configuration")


def test_other_variables_in_a_command_line_still_get_the_finding(tmp_path):
    files = {"Procfile": "worker: celery -A proj worker $EXTRA\n", ".env": "EXTRA=-c 2\nCELERYD_OPTS=-c 2\n"}
    result, _ = migrate(tmp_path, files)
    (procfile,) = [r for r in result.files if r.path.endswith("Procfile")]
    assert [(f.code, "only known at run time" in f.message) for f in procfile.findings] == [("CFQ605", True)]


def test_the_index_reads_assignments_in_env_files_scripts_and_units():
    index = build_index({
        "deploy/conf.d/celery": 'CELERYD_OPTS="-c 2"\n',
        "bin/start.sh": "#!/bin/sh\nexport CELERYBEAT_OPTS='-S django'\n",
        "deploy/w.service": '[Service]\nEnvironment="CELERY_WORKER_OPTS=-c 1"\n',
        "Procfile": "worker: CELERY_BEAT_OPTS=x celery -A p worker\n",  # not a file that sets variables
    })
    assert index.option_variables == {"CELERYD_OPTS", "CELERYBEAT_OPTS", "CELERY_WORKER_OPTS"}


def test_the_process_pool_gets_the_same_index(tmp_path):
    files = {"deploy/celery.service": UNIT, "deploy/conf.d/celery": 'CELERYD_OPTS="-c 4"\n', "Procfile": "w: celery -A p worker\n"}
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    result = run([tmp_path], options=Options(), jobs=2, write=False)
    assert not [f for r in result.files for f in r.findings]
    assert result.summary.files_changed == 1  # the Procfile


@pytest.mark.parametrize(("line", "code"), [
    ("worker: celery -A proj worker --logfile=/var/log/celery/%n%I.log\n", "CFQ610"),
    ("beat: celery -A proj beat --pidfile=/run/%n.pid\n", "CFQ610"),
    ("worker: celery -A proj worker --logfile=/var/log/celery/worker.log\n", None),
])
def test_celery_file_name_patterns_are_reported(tmp_path, line, code):
    result, after = migrate(tmp_path, {"Procfile": line})
    assert after["Procfile"] == line.replace("celery -A", "cfq-shim -A")
    assert [f.code for f in result.files[0].findings] == ([code] if code else [])


@pytest.mark.parametrize(("before", "after"), [
    ("[Service]\nType=forking\nPIDFile=/run/w.pid\nExecStart=/srv/bin/celery -A proj worker --detach --pidfile=/run/w.pid\n",
     "[Service]\nType=simple\nPIDFile=/run/w.pid\nExecStart=/srv/bin/cfq-shim -A proj worker --pidfile=/run/w.pid\n"),
    # The program in a variable (the environment file names cfq-shim), inside sh -c.
    ("[Service]\nType=forking\nExecStart=/bin/sh -c '${CELERY_BIN} -A $CELERY_APP beat --detach'\n",
     "[Service]\nType=simple\nExecStart=/bin/sh -c '${CELERY_BIN} -A $CELERY_APP beat'\n"),
])
def test_a_forking_unit_that_runs_a_worker_or_beat_becomes_simple(tmp_path, before, after):
    result, files = migrate(tmp_path, {"deploy/celery.service": before})
    assert files["deploy/celery.service"] == after
    codes = [f.code for f in result.files[0].findings]
    assert "CFQ601" in codes and "CFQ604" not in codes
    assert run([tmp_path], options=Options(), jobs=1, write=False).summary.files_changed == 0


@pytest.mark.parametrize("text", [
    # celery multi forks: its unit is left, with its finding, until it is rewritten by hand.
    "[Service]\nType=forking\nExecStart=/bin/sh -c '${CELERY_BIN} multi start w1 -A proj'\n",
    "[Service]\nType=forking\nExecStart=/usr/sbin/nginx\nExecStartPost=/srv/bin/celery -A proj purge -f\n",
])
def test_other_forking_units_keep_their_type(tmp_path, text):
    _, files = migrate(tmp_path, {"deploy/celery.service": text})
    assert "Type=forking" in files["deploy/celery.service"]


@pytest.mark.parametrize(("name", "text", "codes"), [
    # systemd expands %i (the instance) and %H itself; Celery sees %h only as %%h.
    ("deploy/celery@.service", "[Service]\nExecStart=/srv/bin/celery -A p worker -n %i@%H --logfile=/var/log/%i.log\n", []),
    ("deploy/celery@.service", "[Service]\nExecStart=/srv/bin/celery -A p worker -n %i@%%h\n", ["CFQ610"]),
    # supervisor interpolates %(name)s and writes a literal % as %%.
    ("deploy/supervisord.conf", "[program:w]\ncommand=/srv/bin/celery -A p worker -n w@%%h --logfile=/var/log/%(program_name)s.log\n",
     ["CFQ610"]),
    ("deploy/supervisord.conf", "[program:w]\ncommand=/srv/bin/celery -A p worker --logfile=/var/log/%(program_name)s.log\n", []),
    ("Procfile", "w: celery -A p worker -n w@%h\n", ["CFQ610"]),
])
def test_node_patterns_are_read_in_the_files_own_escaping(tmp_path, name, text, codes):
    result, _ = migrate(tmp_path, {name: text})
    assert [f.code for f in result.files[0].findings] == codes


def test_supervisor_expansions_do_not_end_the_command(tmp_path):
    # "%(process_num)02d" is supervisor's, expanded before the command is split: its parentheses
    # are no subshell, and the options after it are still read (they were silently kept).
    before = ("[program:w]\nprocess_name=%(program_name)s_%(process_num)02d\nnumprocs=2\n"
              "command=celery -A proj worker -n w%(process_num)02d@%%h -E --pidfile=/run/%(program_name)s.pid"
              " --without-gossip\n")
    result, files = migrate(tmp_path, {"supervisord.conf": before})
    assert files["supervisord.conf"] == before.replace("celery", "cfq-shim").replace(" -E", "").replace(
        " --without-gossip", "")
    assert [f.code for f in result.files[0].findings] == ["CFQ602", "CFQ602", "CFQ610"]


def test_supervisor_values_over_several_lines(tmp_path):
    # supervisor's ini parser continues a value on the indented lines after it; the command is then
    # split with shlex, newlines being blanks.
    before = ("[program:w]\ncommand=/srv/venv/bin/celery -A proj worker\n    --without-gossip -E\n"
              "    --autoscale=8,2\nenvironment=\n    CELERY_BROKER_URL=\"redis://:pw@r:6379/0\",\n    X=\"1\"\n"
              "directory=/srv\n")
    result, files = migrate(tmp_path, {"supervisord.conf": before})
    assert files["supervisord.conf"] == (
        "[program:w]\ncommand=/srv/venv/bin/cfq-shim -A proj worker\n"
        "    --concurrency=8\nenvironment=\n    CELERY_BROKER_URL=\"cloudflare://\",\n    X=\"1\"\n"
        "directory=/srv\n")
    assert "pw" not in str(result.files[0].findings)
    assert run([tmp_path], options=Options(), jobs=1, write=False).summary.files_changed == 0


def test_supervisor_keys_may_be_indented(tmp_path):
    before = "[program:w]\n  command=celery -A proj worker -E\n  environment=CELERY_BROKER_URL=\"redis://r\"\n"
    _, files = migrate(tmp_path, {"supervisord.conf": before})
    assert files["supervisord.conf"] == ("[program:w]\n  command=cfq-shim -A proj worker\n"
                                         "  environment=CELERY_BROKER_URL=\"cloudflare://\"\n")


def test_daemon_options_continued_over_lines_inside_quotes(tmp_path):
    before = 'CELERYD_OPTS="--time-limit=300 \\\n  --concurrency=8 -E \\\n  --without-gossip"\nCELERYD_NODES="w1"\n'
    result, files = migrate(tmp_path, {"etc/celeryd": before})
    assert files["etc/celeryd"] == 'CELERYD_OPTS="--time-limit=300 \\\n  --concurrency=8"\nCELERYD_NODES="w1"\n'
    assert [(f.line, f.code) for f in result.files[0].findings] == [(2, "CFQ602"), (3, "CFQ602")]
    assert run([tmp_path], options=Options(), jobs=1, write=False).summary.files_changed == 0
