"""A direct conversation with one person, for what only they should read (a coordinators' status link).

The bot reuses a room where only that person and the bot are (as :func:`bot.secrets.is_private` defines it),
else creates one: encrypted, as Matrix clients make direct conversations, with the person invited. Invited
members count for the room's key sharing, so the message can be read once they accept the invitation.
"""

from __future__ import annotations

import asyncio

from nio import AsyncClient, RoomCreateResponse, RoomPreset

from bot.secrets import is_private
from bot.session import BotError
from hub.core import Hub

#: How long to wait for the new room to come back in the bot's sync before sending into it.
_SYNC_WAIT_SECONDS = 30.0
_POLL_SECONDS = 0.1
_ENCRYPTION = {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}


async def direct_room(client: AsyncClient, hub: Hub, user_id: str) -> str:
    """The id of a direct conversation between the bot and ``user_id``, made if there is none yet."""
    for room in list(client.rooms.values()):
        if await is_private(hub, room, client.user_id, user_id):
            return str(room.room_id)
    answer = await client.room_create(
        is_direct=True, invite=[user_id], preset=RoomPreset.trusted_private_chat, initial_state=[_ENCRYPTION]
    )
    if not isinstance(answer, RoomCreateResponse):
        raise BotError(f"could not open a direct conversation with {user_id}: {answer}")
    await _synced(client, str(answer.room_id), user_id)
    return str(answer.room_id)


async def _synced(client: AsyncClient, room_id: str, user_id: str) -> None:
    """Waits until the bot's sync knows the room and the invitation (an encrypted message needs both)."""
    for _ in range(int(_SYNC_WAIT_SECONDS / _POLL_SECONDS)):
        room = client.rooms.get(room_id)
        if room is not None and user_id in room.users:
            return
        await asyncio.sleep(_POLL_SECONDS)
    raise BotError(f"the direct conversation {room_id} with {user_id} did not come back in the sync")
