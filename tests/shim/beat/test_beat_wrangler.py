"""``cfq-shim beat --export-wrangler``: Celery crontabs as Cloudflare crons, and the generated Worker
run under Miniflare (the npm package's 3.x line, which runs on Node 20) with scheduled events.

The Miniflare test needs Node and ``npm install`` in tests/shim/beat/miniflare (.ci/run does it). It
skips with the reason when they are missing, and fails instead under CI=true.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cfq_shim.beat.schedules import clocked, crontab, schedule, solar
from cfq_shim.beat.service import run_task_id
from cfq_shim.beat.wrangler import NotExpressible, cloudflare_cron
from cfq_shim.envelope import decode

MINIFLARE_DIR = Path(__file__).parent / "miniflare"
UTC = timezone.utc


@pytest.mark.parametrize(("fields", "expected"), [
    ({}, "* * * * *"),
    ({"minute": "*/15"}, "*/15 * * * *"),
    ({"minute": "0,15,30,45"}, "*/15 * * * *"),
    ({"minute": 0, "hour": 3}, "0 3 * * *"),
    ({"minute": 0, "hour": 9, "day_of_week": "mon-fri"}, "0 9 * * 2-6"),   # Celery 1-5 -> Cloudflare 2-6
    ({"minute": 30, "hour": 7, "day_of_week": "sun"}, "30 7 * * 1"),       # Sunday: 0 -> 1
    ({"minute": 0, "hour": 0, "day_of_week": "sat,sun"}, "0 0 * * 1,7"),
    ({"minute": 0, "hour": 0, "day_of_week": "fri-mon"}, "0 0 * * 1-2,6-7"),
    ({"minute": 5, "hour": "*/6", "day_of_month": 1, "month_of_year": "jan-mar"}, "5 */6 1 1-3 *"),
    ({"minute": 0, "hour": 0, "day_of_month": "1-31/7"}, "0 0 */7 * *"),
    ({"minute": "1-10/3"}, "1,4,7,10 * * * *"),
])
def test_crontabs_become_cloudflare_crons(fields, expected):
    assert cloudflare_cron(crontab(**fields)) == expected


@pytest.mark.parametrize(("every", "expected"), [
    (60, "* * * * *"), (timedelta(minutes=5), "*/5 * * * *"), (timedelta(minutes=30), "*/30 * * * *"),
    (3600, "0 * * * *"), (timedelta(hours=6), "0 */6 * * *"), (timedelta(days=1), "0 0 * * *"),
])
def test_intervals_that_divide_an_hour_or_a_day_become_crons(every, expected):
    assert cloudflare_cron(schedule(every)) == expected


def _in_zone(entry, zone):
    entry.tz = ZoneInfo(zone)
    return entry


@pytest.mark.parametrize(("entry_schedule", "reason"), [
    (schedule(10), "every 10 s, and Cloudflare's cron runs at most once a minute"),
    (schedule(90), "not a whole number of minutes"),
    (schedule(timedelta(minutes=7)), "does not divide an hour or a day"),
    (solar("sunrise", 52.5, 13.4), "solar schedule has no cron equivalent"),
    (clocked(datetime(2030, 1, 1, tzinfo=UTC)), "clocked schedule has no cron equivalent"),
    (_in_zone(crontab(minute=0, hour=3), "Europe/Berlin"), "Europe/Berlin, which has daylight saving time"),
    (_in_zone(crontab(minute=0, hour=3), "Asia/Kolkata"), "Asia/Kolkata (UTC+05:30)"),
    (crontab(day_of_month=1, day_of_week="mon"), "both day_of_month and day_of_week"),
])
def test_what_cloudflare_cron_cannot_express_is_refused_with_the_reason(entry_schedule, reason):
    with pytest.raises(NotExpressible, match=reason.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")):
        cloudflare_cron(entry_schedule)


PROJECT = '''
from datetime import timedelta
from cfq_shim import Celery
from cfq_shim.schedules import crontab, solar

app = Celery("exp", broker="sqlite:///queues.sqlite3")
app.conf.beat_schedule = {
    "quarter": {"task": "exp.tick", "schedule": crontab(minute="*/15"), "args": (1,)},
    "reports": {"task": "exp.tick", "schedule": crontab(minute="0,15,30,45"), "args": (2,),
                "kwargs": {"when": None}, "options": {"queue": "Reports.v2", "expires": 60}},
    "weekdays": {"task": "exp.tick", "schedule": crontab(hour=9, minute=0, day_of_week="mon-fri"), "args": (3,)},
    "every-10s": {"task": "exp.tick", "schedule": 10.0},
    "at-dawn": {"task": "exp.tick", "schedule": solar("sunrise", 52.5, 13.4)},
}

@app.task
def tick(x, when=None):
    return x
'''


def _run_cli(directory: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cfq_shim", "-A", "exp", "beat", *args], cwd=directory,
                          env={**os.environ, "PYTHONPATH": str(directory)}, capture_output=True, text=True, timeout=60)


@pytest.fixture
def exported(tmp_path):
    (tmp_path / "exp.py").write_text(PROJECT)
    result = _run_cli(tmp_path, "--export-wrangler", "out")
    return tmp_path / "out", result


def test_the_export_groups_entries_by_cron_and_lists_the_refused_ones(exported):
    out, result = exported
    # Exit 1: two entries could not be exported; the others were written
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines() == [
        "not exported: 'every-10s': it runs every 10 s, and Cloudflare's cron runs at most once a minute; run `cfq-shim beat` for it",
        "not exported: 'at-dawn': a solar schedule has no cron equivalent; run `cfq-shim beat` for it",
    ]
    config = json.loads((out / "wrangler.json").read_text())
    assert config["name"] == "exp-beat" and config["main"] == "src/index.js"
    assert config["triggers"]["crons"] == ["*/15 * * * *", "0 9 * * 2-6"]  # quarter and reports share one trigger
    # One producer binding per queue, named after the Cloudflare queue name (Reports.v2 is not a valid one)
    from cfq_shim.transport.cloudflare_names import cloudflare_queue_name

    reports = cloudflare_queue_name("Reports.v2")
    assert config["queues"]["producers"] == [
        {"binding": "QUEUE_CELERY", "queue": "celery"},
        {"binding": "QUEUE_" + reports.upper().replace("-", "_"), "queue": reports},
    ]


def test_more_distinct_crons_than_the_trigger_limit_is_a_one_line_error(exported, tmp_path):
    result = _run_cli(tmp_path, "--export-wrangler", "again", "--max-cron-triggers", "1")
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1
    assert "2 distinct cron expressions" in result.stderr and "can have 1 Cron Triggers" in result.stderr
    assert not (tmp_path / "again").exists()


def _node_ready() -> str | None:
    if shutil.which("node") is None:
        return "Node is not installed"
    if not (MINIFLARE_DIR / "node_modules" / "miniflare").is_dir():
        return f"miniflare is not installed: npm install --prefix {MINIFLARE_DIR}"
    return None


def test_the_generated_worker_sends_envelopes_the_worker_decodes_under_miniflare(exported):
    missing = _node_ready()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true: {missing}")
        pytest.skip(missing)
    out, _ = exported
    # Given the exported Worker, when its two Cron Triggers fire at known times
    quarter_time = datetime(2026, 12, 4, 15, 15, tzinfo=UTC)
    nine_time = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    fires = [{"cron": "*/15 * * * *", "scheduledTime": int(quarter_time.timestamp() * 1000)},
             {"cron": "0 9 * * 2-6", "scheduledTime": int(nine_time.timestamp() * 1000)}]
    result = subprocess.run(["node", str(MINIFLARE_DIR / "run_scheduled.mjs"), str(out), json.dumps(fires), "3"],
                            cwd=MINIFLARE_DIR, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    messages = json.loads(result.stdout)
    # Then each entry's message reached its queue once, as text, and decodes as the shim's worker decodes it
    assert len(messages) == 3 and {m["kind"] for m in messages} == {"string"}
    by_args = {tuple(decode(m["body"]).args): (m["queue"], decode(m["body"])) for m in messages}
    queue, quarter = by_args[(1,)]
    assert queue == "celery" and quarter.task == "exp.tick" and quarter.queue == "celery"
    assert quarter.id == quarter.root_id == run_task_id("quarter", quarter_time)  # the same id beat would give the run
    assert quarter.headers == {"celery_beat_task": True} and quarter.expires is None
    queue, reports = by_args[(2,)]
    assert queue.startswith("reports-v2-") and reports.queue == "Reports.v2" and reports.kwargs == {"when": None}
    assert reports.expires == quarter_time + timedelta(seconds=60)
    assert reports.id == run_task_id("reports", quarter_time)
    _, weekdays = by_args[(3,)]
    assert weekdays.id == run_task_id("weekdays", nine_time)
