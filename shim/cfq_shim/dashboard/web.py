"""The dashboard's Flask application: server-rendered pages, POST actions behind a flag and CSRF.

Pages: ``/queues`` (refreshed every few seconds), ``/workers`` (refreshed), ``/tasks`` (recent tasks,
search by id or name), ``/tasks/<id>``, ``/dead-letters``, ``/throughput``. With ``allow_actions``,
``POST /dead-letters/replay`` and ``POST /dead-letters/purge``; without it they answer 403 and no
button is shown.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..deadletters.access import replay
from ..deadletters.selection import Selection
from ..runtime import Runtime
from ..transport.base import TransportError
from .chart import svg_bars
from .security import CSRF_COOKIE, CSRF_FIELD, BasicAuth, csrf_ok, new_csrf_token
from .views import Dashboard

if TYPE_CHECKING:  # pragma: no cover
    from flask import Flask, Response

__all__ = ["create_app", "REFRESH_SECONDS"]

#: How often the queues and workers pages reload themselves.
REFRESH_SECONDS = 3


def create_app(runtime: Runtime, *, allow_actions: bool = False, auth: BasicAuth | None = None) -> "Flask":
    # Flask is the optional 'dashboard' extra: imported here, so cfq_shim imports without it.
    from flask import Flask, Response, abort, flash, redirect, render_template, request, url_for

    web = Flask(__name__)
    # Only for flash() messages after an action; a fresh key per process (nothing secret is kept).
    web.secret_key = new_csrf_token()
    dashboard = Dashboard(runtime)

    @web.template_filter("ago")
    def ago(moment: float | None) -> str:
        if moment is None:
            return "—"
        seconds = max(0, int(time.time() - float(moment)))
        if seconds < 60:
            return f"{seconds}s ago"
        if seconds < 3600:
            return f"{seconds // 60}m ago"
        return f"{seconds // 3600}h ago"

    @web.template_filter("utc")
    def utc(moment: Any) -> str:
        if moment is None:
            return "—"
        if isinstance(moment, datetime):
            return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        return datetime.fromtimestamp(float(moment), tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")

    @web.before_request
    def authenticate() -> Any:
        if auth is None:
            return None
        given = request.authorization
        if given is None or given.type != "basic" or not auth.allows(given.username, given.password):
            return Response("Authentication required.\n", 401,
                            {"WWW-Authenticate": 'Basic realm="cfq-shim dashboard", charset="UTF-8"'})
        return None

    @web.after_request
    def harden(response: "Response") -> "Response":
        if not request.cookies.get(CSRF_COOKIE):
            response.set_cookie(CSRF_COOKIE, _csrf_token(), httponly=True, samesite="Strict")
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        # Everything is inline and local: nothing may be fetched from elsewhere.
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'")
        return response

    def _csrf_token() -> str:
        token = request.cookies.get(CSRF_COOKIE) or getattr(request, "_cfq_csrf", None)
        if token is None:
            token = new_csrf_token()
            request._cfq_csrf = token  # type: ignore[attr-defined]
        return token

    @web.context_processor
    def common() -> dict[str, Any]:
        return {"app_name": runtime.main or "app", "broker": dashboard.broker(), "store": dashboard.store_description(),
                "allow_actions": allow_actions, "csrf_field": CSRF_FIELD, "csrf_token": _csrf_token(),
                "refresh": None}

    def _check_action() -> None:
        if not allow_actions:
            abort(403, "Actions are off: start the dashboard with --allow-actions.")
        if not csrf_ok(cookie=request.cookies.get(CSRF_COOKIE), form=request.form.get(CSRF_FIELD),
                       origin=request.headers.get("Origin"), host=request.host):
            abort(403, "The form's CSRF token is missing or wrong: reload the page and try again.")

    @web.get("/")
    def index() -> Any:
        return redirect(url_for("queues"))

    @web.get("/queues")
    def queues() -> str:
        return render_template("queues.html", page="queues", rows=dashboard.queues(),
                               by_state=dashboard.stats_by_state(), refresh=REFRESH_SECONDS)

    @web.get("/workers")
    def workers() -> str:
        return render_template("workers.html", page="workers", rows=dashboard.workers(), refresh=REFRESH_SECONDS)

    @web.get("/tasks")
    def tasks() -> Any:
        query = request.args.get("q", "").strip()
        rows = dashboard.recent_tasks(query)
        if query and (not rows or any(r.id == query for r in rows)) and len(query) >= 8:
            return redirect(url_for("task", task_id=query))
        return render_template("tasks.html", page="tasks", rows=rows, query=query)

    @web.get("/tasks/<task_id>")
    def task(task_id: str) -> str:
        return render_template("task.html", page="tasks", task=dashboard.task(task_id))

    @web.get("/dead-letters")
    def dead_letters() -> str:
        return render_template("dead_letters.html", page="dead-letters", groups=dashboard.dead_letters())

    @web.post("/dead-letters/replay")
    def replay_dead_letters() -> Any:
        _check_action()
        dlq = _dead_letter_queue(dashboard, request.form.get("queue", ""))
        ident = request.form.get("id", "")
        selection = Selection(ids=frozenset([ident])) if ident else Selection()
        try:
            report = replay(dlq, selection)
        except TransportError as exc:
            flash(f"Replay stopped: {exc}", "error")
        else:
            flash(f"Replayed {len(report.replayed)} dead letter(s) to {dlq.queue}"
                  + (f"; {len(report.skipped)} skipped" if report.skipped else "") + ".", "ok")
        return redirect(url_for("dead_letters"), 303)

    @web.post("/dead-letters/purge")
    def purge_dead_letters() -> Any:
        _check_action()
        dlq = _dead_letter_queue(dashboard, request.form.get("queue", ""))
        ident = request.form.get("id", "")
        try:
            if ident:
                with dlq.scan() as scan:
                    chosen = [e for e in scan.entries() if Selection(ids=frozenset([ident])).matches(e)]
                    scan.remove(chosen)
                deleted = len(chosen)
            else:
                deleted = dlq.purge()
        except TransportError as exc:
            flash(f"Purge stopped: {exc}", "error")
        else:
            flash(f"Deleted {deleted} dead letter(s) from {dlq.name}.", "ok")
        return redirect(url_for("dead_letters"), 303)

    @web.get("/throughput")
    def throughput() -> str:
        minutes = dashboard.throughput()
        return render_template("throughput.html", page="throughput", svg=svg_bars(minutes),
                               processed=sum(m.processed for m in minutes), failed=sum(m.failed for m in minutes))

    return web


def _dead_letter_queue(dashboard: Dashboard, queue: str) -> Any:
    from flask import abort

    try:
        return dashboard.dead_letter_queue(queue)
    except KeyError:
        abort(400, f"{queue!r} is not a queue of this app.")
