"""The lab's demo graph: no LLM, just enough behaviour to test roll-outs.

Input (all optional):
    message: str   echoed back in `echo`
    sleep_s: float hold the run this many seconds (a stream gets one custom
                   event a second meanwhile), so tests can keep a request or
                   a stream in flight during a roll-out; capped at 3600

Output (the thread state after the run):
    echo     the message
    count    how many runs this thread has seen (kept in Postgres through the
             checkpointer, so it survives roll-outs and replicas)
    version  the image's DEMO_VERSION (v1, v2, ...): which revision answered
    replica  the container's host name: which replica answered
    slept_s  how long this run slept

DEMO_BROKEN makes a revision that never becomes healthy (the `broken` tag
bakes in `crash`):
    crash  the graph fails to load at start-up, as a bad revision's would;
           langgraph-api logs the error, then hangs: never listens, ignores
           SIGTERM (a roll-out must kill it)
    hang   loading the graph never finishes: the process runs, never listens
    exit   see entrypoint.sh: the container exits 1 at once
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from typing import TypedDict

from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph

VERSION = os.environ.get("DEMO_VERSION", "dev")
MAX_SLEEP_S = 3600.0

_broken = os.environ.get("DEMO_BROKEN", "").strip().lower()
if _broken == "crash":
    raise RuntimeError(f"demo revision {VERSION} is broken on purpose (DEMO_BROKEN=crash)")
if _broken == "hang":
    while True:  # blocks the server's start-up for good
        time.sleep(3600)


class State(TypedDict, total=False):
    message: str
    sleep_s: float
    echo: str
    count: int
    version: str
    replica: str
    slept_s: float


async def hold(state: State) -> State:
    """Sleep the requested time, one custom stream event a second."""
    try:
        wanted = min(max(float(state.get("sleep_s") or 0), 0.0), MAX_SLEEP_S)
    except (TypeError, ValueError):
        wanted = 0.0
    writer = get_stream_writer()
    loop = asyncio.get_running_loop()
    start = loop.time()
    while (left := wanted - (loop.time() - start)) > 0:
        await asyncio.sleep(min(1.0, left))
        writer({"slept_s": round(loop.time() - start, 3), "of_s": wanted, "version": VERSION})
    return {"slept_s": round(loop.time() - start, 3)}


async def echo(state: State) -> State:
    """Echo the message and count the thread's runs."""
    return {
        "echo": str(state.get("message", "")),
        "count": int(state.get("count") or 0) + 1,
        "version": VERSION,
        "replica": socket.gethostname(),
        # A thread's next run must not sleep again unless asked to.
        "sleep_s": 0,
    }


builder = StateGraph(State)
builder.add_node("hold", hold)
builder.add_node("echo", echo)
builder.add_edge(START, "hold")
builder.add_edge("hold", "echo")
builder.add_edge("echo", END)
graph = builder.compile()
graph.name = "agent"
