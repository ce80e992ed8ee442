import cfq_shim

from jobs import fetch

other = cfq_shim.Celery("other")


def go():
    fetch.s("https://example.com").delay()
