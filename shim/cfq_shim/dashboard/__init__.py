"""``cfq-shim -A proj dashboard``: a small web UI for operators (what Flower gives Celery users).

- :mod:`.views`: what each page shows, read from a Runtime (queues through the transport, workers and
  recent tasks from the control heartbeats, task states from the result backend, dead letters peeked).
  Plain data, no web framework.
- :mod:`.chart`: throughput and failures over the last hour as an inline SVG (nothing fetched at run time).
- :mod:`.security`: HTTP basic auth and CSRF tokens for the POST actions.
- :mod:`.web`: the Flask application (server-rendered Jinja2 templates, autoescaped).
- :mod:`.command`: the CLI command, served by waitress on 127.0.0.1 unless told otherwise.

Flask and waitress are the ``dashboard`` extra (``pip install 'celery2cfq[dashboard]'``); nothing else in
cfq_shim imports them.
"""
