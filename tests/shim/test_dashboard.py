"""The dashboard's pages and actions through Flask's test client, against a real worker thread on the
embedded store: basic auth, read-only by default, CSRF on the POST actions, no credentials rendered.
(tests/e2e/test_dashboard_browser.py drives the same pages in a real headless Chromium.)"""

from __future__ import annotations

import base64
import re

import pytest

from cfq_shim import Celery
from cfq_shim.dashboard.security import CSRF_COOKIE, parse_basic_auth
from cfq_shim.dashboard.web import create_app
from cfq_shim.worker import Worker

SECRET = "s3cret-Password-do-not-show"


@pytest.fixture
def app(tmp_path):
    app = Celery("dash", broker=f"sqlite:///{tmp_path}/q.sqlite3", result_backend=f"sqlite:///{tmp_path}/r.sqlite3",
                 cfq_worker_heartbeat_seconds=0.1, cfq_queue_max_retries=0)

    @app.task
    def add(x, y):
        return x + y

    @app.task
    def boom(n):
        raise ValueError(f"boom {n}")

    yield app
    app.close()


@pytest.fixture
def worker(app):
    worker = Worker(app, pool="threads", concurrency=2, max_idle_backoff_seconds=0.02).start()
    yield worker
    worker.stop()


def client(app, **options):
    return create_app(app, **options).test_client()


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', page).group(1)


def test_every_page_renders_against_a_live_worker(app, worker):
    ok = app.tasks["test_dashboard.add"].delay(2, 3)
    app.tasks["test_dashboard.boom"].delay(1)
    worker.drain(15)
    web = client(app)
    queues = web.get("/queues").get_data(as_text=True)
    assert 'data-queue="celery"' in queues and '<meta http-equiv="refresh"' in queues
    assert re.search(r'data-queue="celery">\s*<td>celery</td>\s*<td class="n ready">0</td>', queues)
    assert '<td class="n dead-letters">1</td>' in queues
    workers = web.get("/workers").get_data(as_text=True)
    assert f'data-worker="{worker.hostname}"' in workers and ">online<" in workers
    # The heartbeat after the two tasks: processed 2, failed 1 (boom was dead-lettered).
    web_workers = lambda: web.get("/workers").get_data(as_text=True)  # noqa: E731
    _wait(lambda: '<td class="n processed">2</td>' in web_workers())
    tasks = web.get("/tasks").get_data(as_text=True)
    assert ok.id in tasks and "SUCCESS" in tasks and "FAILURE" in tasks
    task = web.get(f"/tasks/{ok.id}").get_data(as_text=True)
    assert 'id="task-state">SUCCESS<' in task and "<code>[2, 3]</code>" in task and "<code>5</code>" in task
    assert "SUCCESS on " in task
    found = web.get(f"/tasks?q={ok.id}")
    assert found.status_code == 302 and found.headers["Location"].endswith(f"/tasks/{ok.id}")
    letters = web.get("/dead-letters").get_data(as_text=True)
    assert "ValueError: boom 1" in letters and "Replay" not in letters  # read-only: no buttons
    chart = web.get("/throughput").get_data(as_text=True)
    assert "<svg" in chart and 'id="processed-total">2<' in chart and 'id="failed-total" class="dead">1<' in chart


def test_actions_are_refused_unless_allowed(app, worker):
    app.tasks["test_dashboard.boom"].delay(1)
    worker.drain(15)
    web = client(app)
    page = web.get("/dead-letters").get_data(as_text=True)
    token = web.get_cookie(CSRF_COOKIE).value
    response = web.post("/dead-letters/replay", data={"queue": "celery", "csrf_token": token})
    assert response.status_code == 403 and "--allow-actions" in response.get_data(as_text=True)
    assert "csrf_token" not in page
    assert app.transport.stats("celery").dead_letters == 1


def test_replay_needs_the_csrf_token_and_then_changes_the_counts(app, worker):
    result = app.tasks["test_dashboard.boom"].delay(7)
    worker.drain(15)
    web = client(app, allow_actions=True)
    page = web.get("/dead-letters").get_data(as_text=True)
    assert f'data-id="{result.id}"' in page
    forged = web.post("/dead-letters/replay", data={"queue": "celery", "id": result.id, "csrf_token": "0" * 32})
    assert forged.status_code == 403
    missing = web.post("/dead-letters/replay", data={"queue": "celery", "id": result.id})
    assert missing.status_code == 403
    cross_site = web.post("/dead-letters/replay", data={"queue": "celery", "csrf_token": csrf_of(page)},
                          headers={"Origin": "http://evil.example"})
    assert cross_site.status_code == 403
    assert app.transport.stats("celery").dead_letters == 1
    done = web.post("/dead-letters/replay", data={"queue": "celery", "id": result.id, "csrf_token": csrf_of(page)},
                    follow_redirects=True)
    assert done.status_code == 200 and "Replayed 1 dead letter(s) to celery." in done.get_data(as_text=True)
    worker.drain(15)  # it ran again (and failed again: boom always raises)
    assert app.transport.stats("celery").dead_letters == 1
    purged = web.post("/dead-letters/purge", data={"queue": "celery", "csrf_token": csrf_of(page)},
                      follow_redirects=True)
    assert "Deleted 1 dead letter(s) from celery-dlq." in purged.get_data(as_text=True)
    assert app.transport.stats("celery").dead_letters == 0
    unknown = web.post("/dead-letters/purge", data={"queue": "nope", "csrf_token": csrf_of(page)})
    assert unknown.status_code == 400


def test_basic_auth_protects_every_page(app):
    web = client(app, auth=parse_basic_auth(f"ops:{SECRET}"))
    denied = web.get("/queues")
    assert denied.status_code == 401 and denied.headers["WWW-Authenticate"].startswith("Basic")
    wrong = web.get("/queues", headers={"Authorization": "Basic " + base64.b64encode(b"ops:nope").decode()})
    assert wrong.status_code == 401
    good = web.get("/queues", headers={"Authorization": "Basic " + base64.b64encode(f"ops:{SECRET}".encode()).decode()})
    assert good.status_code == 200 and SECRET not in good.get_data(as_text=True)
    assert SECRET not in repr(parse_basic_auth(f"ops:{SECRET}"))
    with pytest.raises(ValueError, match="USER:PASSWORD") as caught:
        parse_basic_auth("no-colon-" + SECRET)
    assert SECRET not in str(caught.value)


def test_no_credentials_are_rendered(tmp_path, monkeypatch):
    token = "cf-token-DO-NOT-RENDER-9d1e"
    app = Celery("dash", broker=f"sqlite:///{tmp_path}/q.sqlite3",
                 result_backend=f"sqlite:///{tmp_path}/r.sqlite3")
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", token)
    web = client(app)
    for path in ("/queues", "/workers", "/tasks", "/dead-letters", "/throughput", "/tasks/unknown-id"):
        response = web.get(path)
        assert response.status_code == 200, path
        body = response.get_data(as_text=True)
        assert token not in body and "broker sqlite://" in body
        assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
        assert "http://" not in body.replace('xmlns="http://www.w3.org/2000/svg"', "")  # nothing fetched elsewhere
    app.close()


def _wait(predicate, timeout_seconds=15.0):
    import time

    deadline = time.monotonic() + timeout_seconds
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_the_command_serves_on_loopback_and_refuses_a_malformed_basic_auth(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import textwrap
    import urllib.request

    (tmp_path / "dashproj.py").write_text(textwrap.dedent(f"""
        from cfq_shim import Celery
        app = Celery("dashproj", broker="sqlite:///{tmp_path}/q.sqlite3")
    """))
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    env.pop("CFQ_SHIM_DASHBOARD_AUTH", None)
    bad = subprocess.run([sys.executable, "-m", "cfq_shim", "-A", "dashproj", "dashboard", "--basic-auth", "nocolon"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "USER:PASSWORD" in bad.stderr and "nocolon" not in bad.stderr
    server = subprocess.Popen([sys.executable, "-m", "cfq_shim", "-A", "dashproj", "dashboard", "--port", "0"],
                              cwd=tmp_path, env={**env, "CFQ_SHIM_DASHBOARD_AUTH": f"ops:{SECRET}"},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        url = re.search(r"(http://127\.0\.0\.1:\d+/)", line).group(1)
        assert "read-only" in line
        request = urllib.request.Request(url + "queues", headers={
            "Authorization": "Basic " + base64.b64encode(f"ops:{SECRET}".encode()).decode()})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200 and 'data-queue="celery"' in response.read().decode()
        try:
            urllib.request.urlopen(url + "queues", timeout=30)
        except urllib.error.HTTPError as exc:
            assert exc.code == 401
        else:
            raise AssertionError("served without the basic auth")
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
        server.stdout.close()
        server.stderr.close()
