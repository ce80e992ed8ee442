"""How fast the embedded store's hot operations are, from one process (not a test).

    python bench/embedded_ops.py [--messages 20000] [--body-bytes 300]

Prints sends/s (one ``send`` per message, each its own transaction), batch-send rate, and the cost
of one ``pull`` of 100 plus one ``ack`` of 100, on a fresh SQLite file (WAL, synchronous=NORMAL)
and on ``memory://``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from cfq_shim.transport.base import OutgoingMessage
from cfq_shim.transport.memory import MemoryTransport
from cfq_shim.transport.sqlite import SQLiteTransport


def measure(transport, label: str, messages: int, body: str) -> None:
    transport.declare_queue("bench")
    started = time.perf_counter()
    for _ in range(messages):
        transport.send("bench", body)
    send_seconds = time.perf_counter() - started

    batch = [OutgoingMessage(body)] * 100
    started = time.perf_counter()
    for _ in range(messages // 100):
        transport.send_batch("bench", batch)
    batch_seconds = time.perf_counter() - started

    pulls = acks = 0.0
    rounds = 0
    while True:
        started = time.perf_counter()
        leased = transport.pull("bench", batch_size=100, visibility_timeout_ms=60_000)
        pulled = time.perf_counter()
        if not leased:
            break
        transport.ack("bench", acks=[m.lease_id for m in leased])
        pulls += pulled - started
        acks += time.perf_counter() - pulled
        rounds += 1
    total = 2 * (messages // 100 * 100)
    print(
        f"{label:8s} send: {messages / send_seconds:9,.0f}/s ({send_seconds / messages * 1e6:5.1f} µs each)   "
        f"send_batch(100): {messages // 100 * 100 / batch_seconds:9,.0f} msg/s   "
        f"pull(100): {pulls / rounds * 1e3:5.2f} ms   ack(100): {acks / rounds * 1e3:5.2f} ms   "
        f"drained {rounds * 100 if rounds else 0}/{total}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--body-bytes", type=int, default=300)
    args = parser.parse_args()
    body = "x" * args.body_bytes
    with tempfile.TemporaryDirectory() as tmp:
        transport = SQLiteTransport(os.path.join(tmp, "bench.sqlite3"))
        try:
            measure(transport, "sqlite", args.messages, body)
        finally:
            transport.close()
    transport = MemoryTransport()
    try:
        measure(transport, "memory", args.messages, body)
    finally:
        transport.close()


if __name__ == "__main__":
    main()
