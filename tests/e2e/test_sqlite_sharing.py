"""Several producer processes and two consumer processes on one SQLite file.

Given three producers sending 1,200 messages and two consumers that each "lose" one delivery in ten
(they let the lease lapse, as a killed worker would), when the queue drains, then every message has
been acked, and no message was ever leased to two pulls whose leases overlapped.

Each consumer records, per delivery, the wall-clock time just before and just after its pull. The
store starts a lease somewhere in that window, so two leases of one message provably overlap when
the later pull *finished* before the earlier pull *started* plus the lease length.
"""

from __future__ import annotations

import json
import os
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
deliveries, acked = [], []
deadline = time.monotonic() + 120
while not os.path.exists(stop_file) and time.monotonic() < deadline:
    before = time.time_ns() // 1_000_000
    batch = transport.pull("shared", batch_size=10, visibility_timeout_ms=lease_ms)
    after = time.time_ns() // 1_000_000
    if not batch:
        time.sleep(0.005)
        continue
    to_ack = []
    for message in batch:
        deliveries.append([message.id, message.body, message.attempts, before, after])
        lost = message.attempts == 1 and zlib.crc32(message.body.encode()) % 10 == 0
        if not lost:
            to_ack.append(message)
    result = transport.ack("shared", acks=[m.lease_id for m in to_ack])
    acked.extend(m.body for m in to_ack if m.lease_id not in result.warnings)
transport.close()
with open(out_file, "w") as f:
    json.dump({"deliveries": deliveries, "acked": acked}, f)
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


def test_producers_and_consumers_share_one_file_without_loss_or_double_leases(tmp_path: Path):
    path = str(tmp_path / "shared.sqlite3")
    stop_file = tmp_path / "stop"
    admin = SQLiteTransport(path)
    admin.declare_queue(QUEUE)
    deadline = time.monotonic() + DEADLINE_SECONDS
    outputs = [tmp_path / f"consumer-{i}.json" for i in range(2)]
    consumers = [spawn(CONSUMER, path, stop_file, out, LEASE_MS) for out in outputs]
    producers = [spawn(PRODUCER, path, f"p{i}", MESSAGES_PER_PRODUCER) for i in range(PRODUCERS)]
    try:
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
    assert [c.returncode for c in consumers] == [0, 0]

    results = [json.loads(out.read_text()) for out in outputs]
    sent = {f"p{p}-{i}" for p in range(PRODUCERS) for i in range(MESSAGES_PER_PRODUCER)}
    acked = [body for result in results for body in result["acked"]]
    assert set(acked) == sent, f"missing: {sorted(sent - set(acked))[:10]}"

    leases = defaultdict(list)
    for result in results:
        for message_id, body, attempts, before, after in result["deliveries"]:
            leases[message_id].append((before, after, attempts))
    assert len(leases) == len(sent)
    for message_id, windows in leases.items():
        windows.sort()
        assert [attempts for _, _, attempts in windows] == list(range(1, len(windows) + 1)), message_id
        for (earlier_before, _, _), (_, later_after, _) in zip(windows, windows[1:]):
            assert later_after >= earlier_before + LEASE_MS, f"{message_id} leased twice within one lease"

    redelivered = sum(1 for windows in leases.values() if len(windows) > 1)
    assert redelivered > 0, "no lease lapsed: the test did not exercise redelivery"
    assert all(result["deliveries"] for result in results), "one consumer never got a message"
