"""The lab's sample app, deployed from source (tests/lab/test_build.py).

No LLM. Input {"message": str, "sleep_s": float} (both optional); output:
echo (the message), version (VERSION below: a test edits it to make a new
revision), words (sleep_s spelt out by the extra dependency, humanize) and
slept_s.
"""

from __future__ import annotations

import asyncio
from typing import TypedDict

import humanize
from langgraph.graph import END, START, StateGraph

VERSION = "s1"


class State(TypedDict, total=False):
    message: str
    sleep_s: float
    echo: str
    version: str
    words: str
    slept_s: float


async def answer(state: State) -> State:
    slept = min(max(float(state.get("sleep_s") or 0), 0.0), 600.0)
    if slept:
        await asyncio.sleep(slept)
    return {
        "echo": state.get("message", ""),
        "version": VERSION,
        "words": humanize.naturaldelta(slept),
        "slept_s": slept,
    }


builder = StateGraph(State)
builder.add_node("answer", answer)
builder.add_edge(START, "answer")
builder.add_edge("answer", END)
graph = builder.compile()
