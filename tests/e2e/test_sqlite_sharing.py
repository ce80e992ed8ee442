"""Several producer processes and two consumer processes on one SQLite file.

Given three producers sending 1,200 messages and two consumers that each "lose" one delivery in ten
(they let the lease lapse, as a killed worker would), when the queue drains, then every message has
been acked, and no message was ever leased to two pulls whose leases overlapped.

A second run kills one consumer with SIGKILL part-way: nothing is lost.

Each consumer records, per delivery, the wall-clock time just before and just after its pull. The
store starts a lease somewhere in that window, so two leases of one message provably overlap when
the later pull *finished* before the earlier pull *started* plus the lease length.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from cfq_shim.transport.sqlite import SQLiteTransport

QUEUE = "shared"
PRODUCERS = 3
MESSAGES_PER_PRODUCER = 400
LEASE_MS = 1_000
DEADLINE_SECONDS = 90

PRODUCER = r"""
import sys
from cfq_shim.transport.base import OutgoingMessage
from cfq_shim.transport.sqlite import SQLiteTransport

path, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
transport = SQLiteTransport(path)
bodies = [f"{name}-{i}" for i in range(count)]
half = count // 2
for body in bodies[:half]:                     # one transaction per message ...
    transport.send("shared", body)
for start in range(half, count, 25):           # ... and batches, interleaved with the others
    transport.send_batch("shared", [OutgoingMessage(b) for b in bodies[start:start + 25]])
transport.close()
"""

CONSUMER = r"""
import json, os, sys, time, zlib
from cfq_shim.transport.sqlite import SQLiteTransport

path, stop_file, out_file, lease_ms = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
transport = SQLiteTransport(path)
deadline = time.monotonic() + 120
# One JSON line per batch, flushed at once: a consumer killed with SIGKILL leaves its record behind.
with open(out_file, "w") as out:
    while not os.path.exists(stop_file) and time.monotonic() < deadline:
        before = time.time_ns() // 1_000_000
        batch = transport.pull("shared", batch_size=10, visibility_timeout_ms=lease_ms)
        after = time.time_ns() // 1_000_000
        if not batch:
            time.sleep(0.005)
            continue
        deliveries = [[m.id, m.body, m.attempts, before, after] for m in batch]
        out.write(json.dumps({"deliveries": deliveries}) + "\n")
        out.flush()
        # Lose one first delivery in ten (let its lease lapse), as a crashed worker would.
        to_ack = [m for m in batch if m.attempts > 1 or zlib.crc32(m.body.encode()) % 10 != 0]
        result = transport.ack("shared", acks=[m.lease_id for m in to_ack])
        acked = [m.body for m in to_ack if m.lease_id not in result.warnings]
        out.write(json.dumps({"acked": acked}) + "\n")
        out.flush()
transport.close()
"""


def spawn(code: str, *args: object) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)])


def wait_until_drained(transport: SQLiteTransport, deadline: float) -> None:
    while time.monotonic() < deadline:
        stats = transport.stats(QUEUE)
        if stats.ready + stats.delayed + stats.in_flight == 0:
            return
        time.sleep(0.05)
    raise AssertionError(f"the queue did not drain: {transport.stats(QUEUE)}")


def read_records(out: Path) -> tuple[list[list], list[str], set[str]]:
    """(deliveries, acked bodies, unsettled bodies) from a consumer's JSON lines.

    A killed consumer may leave a torn last line (skipped) or a batch whose ack it sent but could not
    record: those bodies come back as "unsettled" (delivered, outcome unknown)."""
    deliveries, acked, unsettled = [], [], set()
    for line in out.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "deliveries" in record:
            deliveries.extend(record["deliveries"])
            unsettled = {body for _, body, *_ in record["deliveries"]}
        else:
            acked.extend(record["acked"])
            unsettled = set()
    return deliveries, acked, unsettled


def wait_for_deliveries(out: Path, count: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        if out.exists() and len(read_records(out)[0]) >= count:
            return
        time.sleep(0.01)
    raise AssertionError(f"{out.name} did not record {count} deliveries in time")


def run_and_check(tmp_path: Path, *, kill_first_consumer_after: int | None = None) -> None:
    path = str(tmp_path / "shared.sqlite3")
    stop_file = tmp_path / "stop"
    admin = SQLiteTransport(path)
    admin.declare_queue(QUEUE)
    deadline = time.monotonic() + DEADLINE_SECONDS
    outputs = [tmp_path / f"consumer-{i}.jsonl" for i in range(2)]
    consumers = [spawn(CONSUMER, path, stop_file, out, LEASE_MS) for out in outputs]
    # Both consumers are up (each creates its record file once its store is open) before any message
    # exists; otherwise, on a loaded machine, the first one up can drain nearly everything alone.
    while not all(out.exists() for out in outputs):
        assert time.monotonic() < deadline, "the consumers did not start"
        assert all(c.poll() is None for c in consumers), "a consumer exited at start-up"
        time.sleep(0.01)
    producers = [spawn(PRODUCER, path, f"p{i}", MESSAGES_PER_PRODUCER) for i in range(PRODUCERS)]
    try:
        if kill_first_consumer_after is not None:
            wait_for_deliveries(outputs[0], kill_first_consumer_after, deadline)
            consumers[0].send_signal(signal.SIGKILL)
        for producer in producers:
            assert producer.wait(timeout=DEADLINE_SECONDS) == 0
        wait_until_drained(admin, deadline)
    finally:
        stop_file.touch()
        for process in consumers + producers:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        admin.close()
    expected_codes = [-signal.SIGKILL, 0] if kill_first_consumer_after is not None else [0, 0]
    assert [c.returncode for c in consumers] == expected_codes

    results = [read_records(out) for out in outputs]
    sent = {f"p{p}-{i}" for p in range(PRODUCERS) for i in range(MESSAGES_PER_PRODUCER)}
    acked = {body for _, bodies, _ in results for body in bodies}
    # Only the killed consumer can leave a batch unrecorded, and only its last one.
    unknown = results[0][2] if kill_first_consumer_after is not None else set()
    assert acked <= sent
    assert sent - acked <= unknown, f"missing: {sorted(sent - acked - unknown)[:10]}"

    leases = defaultdict(list)
    for deliveries, _, _ in results:
        for message_id, body, attempts, before, after in deliveries:
            leases[message_id].append((before, after, attempts))
    assert len(leases) == len(sent)
    for message_id, windows in leases.items():
        windows.sort()
        attempts = [attempts for _, _, attempts in windows]
        assert attempts == sorted(set(attempts)), f"{message_id}: attempts {attempts} did not grow per lease"
        for (earlier_before, _, _), (_, later_after, _) in zip(windows, windows[1:]):
            assert later_after >= earlier_before + LEASE_MS, f"{message_id} leased twice within one lease"

    redelivered = sum(1 for windows in leases.values() if len(windows) > 1)
    assert redelivered > 0, "no lease lapsed: the test did not exercise redelivery"
    assert all(deliveries for deliveries, _, _ in results), "one consumer never got a message"


def test_producers_and_consumers_share_one_file_without_loss_or_double_leases(tmp_path: Path):
    run_and_check(tmp_path)


def test_a_consumer_killed_mid_run_loses_nothing(tmp_path: Path):
    # Given a consumer killed with SIGKILL while it holds leases (perhaps mid-transaction),
    # then the file stays usable, and the other consumer gets its messages once their leases lapse.
    # The kill comes after its 20th delivery: early enough that a consumer the other outpaces still
    # reaches it, late enough that both are mid-run with producers still sending.
    run_and_check(tmp_path, kill_first_consumer_after=20)


OPENER = r"""
import sys, time
from cfq_shim.transport.sqlite import SQLiteTransport

path, start_at = sys.argv[1], float(sys.argv[2])
while time.time() < start_at:  # line every process up on the same instant
    time.sleep(0.001)
transport = SQLiteTransport(path)
transport.declare_queue("opened")
transport.send("opened", "hello")
print("opened")
"""


def test_many_processes_opening_a_new_file_at_once_all_succeed(tmp_path):
    # Given several fresh files, each opened by eight processes at the same instant (as when a
    # worker pool and producers start together): the first opener turns the file to WAL while the
    # others already hold it, which SQLite refuses at once rather than waiting.
    for round_number in range(4):
        path = tmp_path / f"fresh-{round_number}.sqlite3"
        start_at = time.time() + 1.0
        openers = [
            subprocess.Popen([sys.executable, "-c", OPENER, str(path), str(start_at)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(8)
        ]
        results = [opener.communicate(timeout=DEADLINE_SECONDS) for opener in openers]
        # Then every process opened the store and sent its message, and none failed "locked".
        failures = [err for (out, err) in results if out.strip() != "opened"]
        assert failures == []
        assert SQLiteTransport(str(path)).stats("opened").ready == 8
