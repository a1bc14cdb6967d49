#!/bin/sh
# The demo server's entry point: the contract of the langchain/langgraph-api
# image (port 8000, DATABASE_URI or POSTGRES_URI, REDIS_URI, /ok, /metrics).
#   (no argument) or serve   run the API server (uvicorn as PID 1: it handles SIGTERM)
#   migrate                  migrate the database once and exit 0 (see migrate.py)
#   anything else            run it as a command (a shell, say)
set -eu

# The runtime reads DATABASE_URI; the official image also accepts POSTGRES_URI.
if [ -z "${DATABASE_URI:-}" ] && [ -n "${POSTGRES_URI:-}" ]; then
  DATABASE_URI=$POSTGRES_URI
  export DATABASE_URI
fi

case "${1:-serve}" in
  serve)
    if [ "${DEMO_BROKEN:-}" = exit ]; then
      echo "error: demo revision ${DEMO_VERSION:-dev} is broken on purpose (DEMO_BROKEN=exit)" >&2
      exit 1
    fi
    # On SIGTERM: no new connections; in-flight requests and streams get
    # BG_JOB_SHUTDOWN_GRACE_PERIOD_SECS to finish (serve.py); then the queue
    # stops, runs still running go back to pending for another replica, exit.
    exec python /app/serve.py langgraph_api.server:app \
      --host 0.0.0.0 --port "${PORT:-8000}" \
      --log-config "$LOG_CONFIG" --no-access-log \
      --timeout-graceful-shutdown "${BG_JOB_SHUTDOWN_GRACE_PERIOD_SECS:-180}"
    ;;
  migrate)
    exec python /app/migrate.py
    ;;
  *)
    exec "$@"
    ;;
esac
