"""Side effects the tests compare: one JSON line per event in the file named by E2E_EVENTS_FILE.

Each line is written with a single os.write on an O_APPEND descriptor, so lines from several
processes never interleave.
"""
import json
import os


def record(event, **fields):
    line = json.dumps({"event": event, **fields}, sort_keys=True) + "\n"
    fd = os.open(os.environ["E2E_EVENTS_FILE"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
