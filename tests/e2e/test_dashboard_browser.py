"""The dashboard in a real headless Chromium (Debian's chromium + chromium-driver, driven by Selenium),
served by waitress on 127.0.0.1 against a live worker: every page loads, a dead letter is replayed from
the UI and the counts change, and each page is screenshotted.

Screenshots go to the test's temporary directory; with ``CFQ_SHIM_UPDATE_SCREENSHOTS=1`` they are also
written to docs/images/ (that is how the committed ones were taken). Where the browser cannot start the
test skips with the reason; under ``CI=true`` it fails instead.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from services import unavailable

from cfq_shim import Celery
from cfq_shim.worker import Worker

DEADLINE_SECONDS = 30  # safety net only
DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture
def browser(tmp_path):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        unavailable("selenium is not installed (pip install -e '.[test]')")
    binary = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    driver_path = CHROMEDRIVER if os.path.exists(CHROMEDRIVER) else shutil.which("chromedriver")
    if not binary or not driver_path:
        unavailable("chromium or chromium-driver is not installed (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=1280,900"):
        options.add_argument(flag)
    try:
        driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    except Exception as exc:  # noqa: BLE001 - any start failure is the reason to report
        unavailable(f"headless chromium did not start: {str(exc).splitlines()[0]}")
    driver.set_page_load_timeout(DEADLINE_SECONDS)
    yield driver
    driver.quit()


@pytest.fixture
def live(tmp_path):
    """An app on the embedded store with a result backend, a worker thread, and the dashboard served by
    waitress on a free loopback port with actions allowed."""
    from waitress import create_server

    from cfq_shim.dashboard.web import create_app

    app = Celery("shop", broker=f"sqlite:///{tmp_path}/q.sqlite3", result_backend=f"sqlite:///{tmp_path}/r.sqlite3",
                 cfq_worker_heartbeat_seconds=0.2, cfq_queue_max_retries=0)
    state = {"fixed": False}
    release = threading.Event()

    @app.task(name="shop.charge")
    def charge(order_id, amount):
        if not state["fixed"] and amount < 0:
            raise ValueError(f"negative amount {amount} for order {order_id}")
        return {"order": order_id, "charged": amount}

    @app.task(name="shop.report")
    def report(day):
        release.wait(300)  # released by the test (or its teardown)
        return day

    worker = Worker(app, pool="threads", concurrency=3, max_idle_backoff_seconds=0.02).start()
    server = create_server(create_app(app, allow_actions=True), host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield app, worker, f"http://127.0.0.1:{server.effective_port}", state, release
    finally:
        release.set()
        server.close()
        worker.stop()
        app.close()


def _shot(driver, tmp_path: Path, name: str) -> None:
    driver.save_screenshot(str(tmp_path / f"dashboard-{name}.png"))
    if os.environ.get("CFQ_SHIM_UPDATE_SCREENSHOTS") == "1":
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(DOCS_IMAGES / f"dashboard-{name}.png"))


def _wait(predicate, what: str, context=lambda: ""):
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what} {context()}"
        time.sleep(0.1)


def _cell(driver, selector: str) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, selector).text


@pytest.mark.slow
def test_every_page_in_a_real_browser_and_a_replay_from_the_ui(browser, live, tmp_path):
    from selenium.webdriver.common.by import By

    app, worker, base, state, release = live
    charge, report = app.tasks["shop.charge"], app.tasks["shop.report"]
    for n in range(12):
        charge.delay(1000 + n, 25 + n)
    failed = [charge.delay(2000 + n, -5 - n) for n in range(2)]
    _wait(lambda: app.transport.stats("celery").dead_letters == 2, "two dead letters")
    _wait(lambda: worker.tracker.processed >= 14, "the tasks ran")
    # Sent apart: a pulled batch is settled (acked, dead letters sent) once all of it is.
    running = report.delay("2026-12-04")
    _wait(lambda: running.id in str(app.control.inspect().active()), "the report task is running")

    browser.get(f"{base}/queues")
    assert browser.title.startswith("Queues")
    row = 'tr[data-queue="celery"]'
    assert _cell(browser, f"{row} .dead-letters") == "2"
    # What is in flight depends on how the worker's pulls were cut into batches (a batch is acked when all
    # of it is settled): the figures are the store's, shown as numbers.
    assert _cell(browser, f"{row} .in-flight").isdigit() and _cell(browser, f"{row} .ready").isdigit()
    _shot(browser, tmp_path, "queues")

    browser.get(f"{base}/workers")
    worker_row = f'tr[data-worker="{worker.hostname}"]'
    _wait(lambda: (browser.refresh() or True) and _cell(browser, f"{worker_row} .processed") == "14",
          "processed 14", lambda: browser.find_element(By.ID, "workers").text)
    assert _cell(browser, f"{worker_row} .status") == "online" and _cell(browser, f"{worker_row} .active") == "1"
    assert _cell(browser, f"{worker_row} .failed") == "2"
    _shot(browser, tmp_path, "workers")

    browser.get(f"{base}/tasks")
    table = browser.find_element(By.ID, "tasks").text
    assert "STARTED" in table and "SUCCESS" in table and "FAILURE" in table
    _shot(browser, tmp_path, "tasks")
    search = browser.find_element(By.ID, "search")
    search.send_keys(failed[0].id)
    browser.find_element(By.ID, "search-button").click()
    _wait(lambda: failed[0].id in browser.current_url, "the task page")
    assert browser.find_element(By.ID, "task-state").text == "FAILURE"
    assert "negative amount -5 for order 2000" in browser.find_element(By.ID, "traceback").text
    assert "dead-lettered (failed)" in browser.find_element(By.ID, "timeline").text
    _shot(browser, tmp_path, "task")

    browser.get(f"{base}/throughput")
    assert browser.find_element(By.ID, "processed-total").text == "14"
    assert browser.find_element(By.ID, "failed-total").text == "2"
    assert browser.find_elements(By.CSS_SELECTOR, "#chart svg rect.processed")
    _shot(browser, tmp_path, "throughput")

    # Replay one dead letter from the UI, after the fix: the counts change and the task succeeds.
    state["fixed"] = True
    browser.get(f"{base}/dead-letters")
    assert len(browser.find_elements(By.CSS_SELECTOR, "tr.dead-letter")) == 2
    _shot(browser, tmp_path, "dead-letters")
    browser.find_element(By.CSS_SELECTOR, f'tr.dead-letter[data-id="{failed[0].id}"] button.replay').click()
    # find_elements (plural) answers [] while the page after the POST's redirect is still loading, where
    # find_element raised NoSuchElementException instead of letting _wait try again.
    flash = _wait(lambda: next((e.text for e in browser.find_elements(By.ID, "flash")), ""), "flash")
    assert "Replayed 1 dead letter(s) to celery." in flash
    assert [e.get_attribute("data-id") for e in browser.find_elements(By.CSS_SELECTOR, "tr.dead-letter")] == [failed[1].id]
    _wait(lambda: failed[0].state == "SUCCESS", "the replayed task succeeded")
    assert failed[0].get(timeout=5) == {"order": 2000, "charged": -5}
    browser.get(f"{base}/queues")
    assert _cell(browser, f"{row} .dead-letters") == "1"
    release.set()
    assert running.get(timeout=DEADLINE_SECONDS) == "2026-12-04"
