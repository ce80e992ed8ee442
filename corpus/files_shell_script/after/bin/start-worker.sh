#!/usr/bin/env bash
# Start a Celery worker; QUEUES and WORKERS_COUNT come from the container's environment.
set -euo pipefail

: "${QUEUES:=default}"
: "${WORKERS_COUNT:=2}"

if [ "${RUN_MIGRATIONS:-0}" = "1" ]; then
  python manage.py migrate --noinput
fi

exec cfq-shim -A proj worker \
  -Q$QUEUES \
  -c$WORKERS_COUNT \
  --loglevel="${LOG_LEVEL:-info}" \
  --hostname="worker-$(hostname)@%h" \
  "$@"
