import celery

from jobs import fetch

other = celery.Celery("other")


def go():
    fetch.s("https://example.com").delay()
