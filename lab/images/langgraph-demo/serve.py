"""Runs the API server as `python -m uvicorn` would, with one change on SIGTERM.

Stock langgraph-api closes every open SSE stream the moment SIGTERM arrives
(sse-starlette's automatic drain), so a client streaming a run is cut off
however long the shutdown grace is. Here uvicorn instead stops accepting
connections and lets in-flight requests, streams included, finish for up to
--timeout-graceful-shutdown seconds (the entry point passes
BG_JOB_SHUTDOWN_GRACE_PERIOD_SECS); then the server stops its queue, puts
runs still running back to pending for another replica, and exits.
STREAMS_CLOSE_ON_SIGTERM=true restores the stock behaviour.
"""

import os
import sys

if os.environ.get("STREAMS_CLOSE_ON_SIGTERM", "").strip().lower() not in ("1", "true", "yes", "on"):
    from sse_starlette.sse import AppStatus

    AppStatus.disable_automatic_graceful_drain()

from uvicorn.main import main  # noqa: E402

sys.argv[0] = "uvicorn"
sys.exit(main())
