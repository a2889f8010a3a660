"""Taking back the scheduled statuses of posts no longer wanted (an announcement unlocked or cancelled): a side
task of the leading dispatcher works through :mod:`hub.store.repositories.unstagings`.

Each stays queued until its server confirms (the scheduled status deleted, or already gone); a server out of
reach is asked again later, more and more rarely. Whatever a crash interrupts is done again: deleting something
already deleted is not an error.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from hub.core import Hub
from hub.errors import UnissonError
from hub.store.repositories import Unstaging

log = logging.getLogger(__name__)

#: Taken at once per round.
BATCH = 50
#: The first wait after a failure, doubled at each, at most :data:`LONGEST`.
FIRST_WAIT, LONGEST = timedelta(seconds=5), timedelta(minutes=10)
#: Past this many failures the scheduled status is given up (logged as an error for the operator).
GIVE_UP_AFTER = 30


async def unstage_due(hub: Hub) -> int:
    """Takes back the scheduled statuses due; returns how many were done."""
    async with hub.store.unit() as uow:
        due = await uow.unstagings.due(hub.clock(), BATCH)
        accounts = await uow.accounts.many({u.account_id for u in due})
    done = 0
    for item in due:
        account = accounts.get(item.account_id)
        try:
            if account is not None:
                await hub.publisher(account.platform).unstage(account, item.schedule, item.text)
        except UnissonError as error:
            await _later(hub, item, error)
            continue
        async with hub.store.unit() as uow:
            await uow.unstagings.done(item.id)
        done += 1
    return done


async def _later(hub: Hub, item: Unstaging, error: UnissonError) -> None:
    async with hub.store.unit() as uow:
        if item.attempts + 1 >= GIVE_UP_AFTER:
            log.error(
                "gave up taking back scheduled status %s of account %s: %s (delete it by hand on the server)",
                item.schedule.get("id") or "(unknown)",
                item.account_id,
                error.message_key,
            )
            await uow.unstagings.done(item.id)
            return
        wait = min(LONGEST, FIRST_WAIT * 2**item.attempts)
        await uow.unstagings.later(item.id, hub.clock() + wait, error.message_key)
    log.info("scheduled status of account %s not taken back yet (%s)", item.account_id, error.message_key)
