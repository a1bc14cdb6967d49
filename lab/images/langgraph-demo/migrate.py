"""One-off schema migration for a revision: `docker run --rm IMAGE migrate`.

Does what the server does to the database at start-up, then exits 0:
the runtime's Alembic migrations (`langgraph-runtime-pg-migrate upgrade`),
then the checkpointer's and the store's own migrations
(langgraph-checkpoint-postgres and the Postgres store create their tables
and indexes on first use). Replicas started together on a fresh database
race on those; a roll-out runs this once per revision first. It holds a
Postgres advisory lock meanwhile, so two migrations at once queue up
instead of racing, and it is idempotent: on a migrated database it changes
nothing.

Reads DATABASE_URI (or POSTGRES_URI). Waits up to MIGRATE_WAIT_S seconds
(default 60) for the database to accept connections. Exit codes: 0 done,
1 failed, 2 no database configured.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

# An arbitrary constant: the advisory lock every migration of this image takes.
LOCK_KEY = 0x6C67_6D69  # "lgmi"


def _log(msg: str) -> None:
    print(f"migrate: {msg}", flush=True)


async def _connect(uri: str, wait_s: float):
    import psycopg

    deadline = time.monotonic() + wait_s
    while True:
        try:
            return await psycopg.AsyncConnection.connect(uri, autocommit=True, connect_timeout=5)
        except psycopg.OperationalError as exc:
            if time.monotonic() >= deadline:
                raise
            _log(f"database not ready ({str(exc).strip().splitlines()[-1]}); retrying")
            await asyncio.sleep(1)


async def migrate() -> str:
    from langgraph_runtime_pg.checkpoint import setup_checkpointer, teardown_checkpointer
    from langgraph_runtime_pg.database import to_psycopg_uri
    from langgraph_runtime_pg.migrate import upgrade_head
    from langgraph_runtime_pg.store import setup_store, teardown_store

    wait_s = float(os.environ.get("MIGRATE_WAIT_S", "60"))
    lock_conn = await _connect(to_psycopg_uri(), wait_s)
    async with lock_conn:
        # Poll rather than block: a session blocked in pg_advisory_lock() holds
        # a snapshot, and the holder's CREATE INDEX CONCURRENTLY (checkpointer
        # set-up) waits for every such snapshot: an undetected deadlock.
        while not (
            await (await lock_conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,))).fetchone()
        )[0]:
            _log("another migration holds the lock; waiting")
            await asyncio.sleep(1)
        try:
            head = await asyncio.to_thread(upgrade_head)
            _log(f"runtime schema at {head}")
            await setup_checkpointer()
            await teardown_checkpointer()
            _log("checkpointer tables ready")
            await setup_store()
            await teardown_store()
            _log("store tables ready")
        finally:
            await lock_conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
    return head


def main() -> int:
    if not os.environ.get("DATABASE_URI") and os.environ.get("POSTGRES_URI"):
        os.environ["DATABASE_URI"] = os.environ["POSTGRES_URI"]
    if not os.environ.get("DATABASE_URI"):
        print("migrate: error: set DATABASE_URI (or POSTGRES_URI)", file=sys.stderr)
        return 2
    try:
        head = asyncio.run(migrate())
    except Exception as exc:  # one clear line for the roll-out's error message
        print(f"migrate: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    _log(f"done (schema head {head})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
