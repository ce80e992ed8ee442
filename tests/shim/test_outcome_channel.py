"""The prefork outcome channel (worker/outcome_channel.py): frames written at once, read in batches."""

from __future__ import annotations

import multiprocessing
import os
import struct

import pytest

from cfq_shim.worker.outcome_channel import OutcomeReader, OutcomeWriter

pytestmark = pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")


def _pipes():
    ctx = multiprocessing.get_context("fork")
    control_parent, control_child = ctx.Pipe(duplex=True)
    data_reader, data_writer = ctx.Pipe(duplex=False)
    return ctx, control_parent, control_child, data_reader, data_writer


def _write_records(control, data, records):
    writer = OutcomeWriter(data.fileno(), control)
    for record in records:
        writer.put(record)
    writer.wake(("end",))


def test_many_small_records_arrive_in_order_with_few_wakes():
    ctx, control, control_child, data_reader, data_writer = _pipes()
    records = [("done", index, "x" * 10, 0.0) for index in range(500)]
    child = ctx.Process(target=_write_records, args=(control_child, data_writer, records))
    child.start()
    data_writer.close()
    reader = OutcomeReader(data_reader.fileno())
    received, wakes = [], 0
    while True:
        assert control.poll(30)
        wake = control.recv()
        wakes += 1
        received += reader.drain(alive=child.is_alive)
        if wake == ("end",):
            break
    child.join(10)
    assert received == records
    # 500 records of ~40 bytes: woken when 32 KiB piled up and at the end, not once per record.
    assert wakes < 10


def test_records_larger_than_the_pipe_do_not_block_the_writer():
    ctx, control, control_child, data_reader, data_writer = _pipes()
    records = [("done", index, "y" * 200_000, 0.0) for index in range(3)]  # each over a pipe's 64 KiB
    child = ctx.Process(target=_write_records, args=(control_child, data_writer, records))
    child.start()
    data_writer.close()
    reader = OutcomeReader(data_reader.fileno())
    received = []
    while len(received) < 3 or child.is_alive():
        if control.poll(30):
            control.recv()
        received += reader.drain(alive=child.is_alive)
        if len(received) == 3:
            break
    child.join(10)
    assert [r[1] for r in received] == [0, 1, 2] and all(len(r[2]) == 200_000 for r in received)


def test_a_partial_frame_from_a_dead_writer_is_dropped():
    read_fd, write_fd = os.pipe()
    payload = b"\x80\x05K\x01."  # pickle of 1
    os.write(write_fd, struct.pack("!I", len(payload)) + payload)
    os.write(write_fd, struct.pack("!I", 100) + b"half")  # the writer died mid-frame
    os.close(write_fd)
    reader = OutcomeReader(read_fd)
    try:
        assert reader.drain(alive=lambda: False) == [1]
        reader.discard()
        assert reader.drain(alive=lambda: False) == []
    finally:
        os.close(read_fd)
