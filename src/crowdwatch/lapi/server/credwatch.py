"""Withdrawn credentials stop working everywhere within a fraction of a second.

The server caches API keys and machines for ``state.CACHE_TTL`` so that bouncer polls and
agent pushes do not each cost a database read. Every deletion or revocation (through this
process, another LAPI process, the CLI or the retention flush) changes the credentials
generation in the database (``storage.machines.bump_credentials``); this watcher reads it
every :data:`POLL_INTERVAL` and, when it changed, empties the caches — twice, one poll apart,
so that a lookup that was in flight during the change cannot put a stale entry back.
"""

from __future__ import annotations

import asyncio
import logging

from crowdwatch.lapi.server.state import ServerState
from crowdwatch.lapi.storage import Database
from crowdwatch.lapi.storage.machines import credentials_generation

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.2  # s between reads of the credentials generation


def read_generation(db: Database) -> str:
    with db.read.connect() as conn:
        return credentials_generation(conn)


async def watch_credentials(st: ServerState, interval: float = POLL_INTERVAL) -> None:
    """Run until cancelled (a failed read is logged and retried at the next poll)."""
    seen: str | None = None  # unknown until the first successful read
    pending = False  # one more clearing is due (the change was seen at the previous poll)
    while True:
        if pending:
            st.forget_credentials()
            pending = False
        try:
            current = await st.read(read_generation, st.service.db)
        except Exception:  # the database is unreachable: the caches' own TTL still applies
            log.exception("cannot read the credentials generation")
        else:
            if seen is not None and current != seen:
                st.forget_credentials()
                pending = True
            seen = current
        await asyncio.sleep(interval)
