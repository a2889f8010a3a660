"""A coalition's Bluesky starter pack: one reference list of every member town's Bluesky account, and the
starter pack that points to it, on the coalition's own Bluesky account.

The Bluesky app shows at most 150 accounts per pack, so a larger coalition gets several packs, one per région
(see :mod:`hub.services.pack_groups`), which a reader understands at once.

Writing is safe to repeat: the list's and the pack's record keys are chosen and stored before the first write,
and ``putRecord`` replaces a record at its key; the list's items are read back from the account's repo first,
and only the difference is written (``applyWrites``, in batches). A sync interrupted by a crash is finished by
the next one. :meth:`StarterPacks.refresh_changed` (a low-priority side task) brings the packs up to date when
towns join or leave the coalition or link an account.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hub.domain.model import Account, Platform, Town
from hub.errors import InvalidInput, UnissonError
from hub.locks import KeyedLocks
from hub.publishers.base import PermanentPublishError, PublishError, TransientPublishError
from hub.publishers.bluesky import BlueskyPublisher, new_tid
from hub.publishers.bluesky_graph import Listed, Repo, RepoWriter, create, delete
from hub.reference.places import place_of
from hub.services.coalition_accounts import CoalitionAccountService
from hub.services.coalitions import coordinated, get_coalition
from hub.services.context import ServiceContext
from hub.services.pack_groups import PACK_SIZE, Member, PackGroup, pack_groups
from hub.store.repositories import StarterPack

LIST = "app.bsky.graph.list"
ITEM = "app.bsky.graph.listitem"
PACK = "app.bsky.graph.starterpack"
REFERENCE = "app.bsky.graph.defs#referencelist"
#: The lexicon's caps on a list's and a pack's name (graphemes; the names here are short and plain).
LIST_NAME, PACK_NAME = 64, 50
#: The lexicon's cap on a list's and a pack's description (graphemes).
DESCRIPTION = 300


@dataclass(frozen=True, slots=True)
class PackLink:
    """A pack as people reach it; ``label`` names its towns' run when there are several packs."""

    number: int
    label: str
    url: str


class StarterPacks:
    def __init__(self, context: ServiceContext, accounts: CoalitionAccountService) -> None:
        self.context = context
        self.accounts = accounts
        self._locks: KeyedLocks[int] = KeyedLocks()
        self._dids: dict[str, str] = {}
        #: The most accounts per pack: the Bluesky app's cap (a test lowers it to see the split on a real PDS).
        self.pack_size = PACK_SIZE

    async def create(self, actor_id: str, coalition_id: int) -> list[PackLink]:
        """``!pack``: creates (or brings up to date) the coalition's packs; a coordinator's or an admin's act."""
        async with self.context.store.unit() as uow:
            coalition = await coordinated(self.context, uow, actor_id, coalition_id)
            await uow.audit.append(actor_id, "starter_pack.sync", coalition_id=coalition.id)
        try:
            return await self.sync(coalition_id)
        except PublishError as error:
            raise pack_failure(error, coalition.name) from error

    async def links(self, coalition_id: int) -> list[PackLink]:
        """The packs already written (for the room, the public page); no network call."""
        async with self.context.store.unit() as uow:
            packs = await uow.starter_packs.of_coalition(coalition_id)
        return [self._link(p, p.label or "") for p in packs if p.handle and p.synced_at]

    async def refresh_changed(self) -> int:
        """Brings up to date the packs whose members changed since their last sync; returns how many coalitions."""
        async with self.context.store.unit() as uow:
            coalition_ids = await uow.starter_packs.coalitions()
        synced = 0
        for coalition_id in coalition_ids:
            wanted = [_hash(group) for group in await self._groups(coalition_id)]
            async with self.context.store.unit() as uow:
                packs = await uow.starter_packs.of_coalition(coalition_id)
            if wanted != [p.members_hash for p in packs]:
                await self.sync(coalition_id)
                synced += 1
        return synced

    async def sync(self, coalition_id: int) -> list[PackLink]:
        """Writes every pack of the coalition as its members are now; one sync per coalition at a time."""
        async with self._locks.hold(coalition_id):
            account, name = await self._account(coalition_id)
            writer = RepoWriter(self._publisher())
            repo = await writer.repo(account)
            groups = await self._groups(coalition_id)
            items = await writer.records(account, ITEM)
            links = []
            for number, group in enumerate(groups, start=1):
                pack = await self._keys(coalition_id, number)
                await self._write(writer, account, repo, pack, group, items, name)
                async with self.context.store.unit() as uow:
                    await uow.starter_packs.synced(
                        coalition_id,
                        number,
                        did=repo.did,
                        handle=repo.handle,
                        members_hash=_hash(group),
                        label=group.label,
                    )
                links.append(PackLink(number, group.label, self._url(repo.handle, pack.pack_rkey)))
            await self._drop_beyond(writer, account, repo, coalition_id, len(groups), items)
            return links

    # --- writing ---------------------------------------------------------------------------------------------

    async def _write(
        self,
        writer: RepoWriter,
        account: Account,
        repo: Repo,
        pack: StarterPack,
        group: PackGroup,
        items: list[Listed],
        coalition: str,
    ) -> None:
        now = self.context.clock().isoformat().replace("+00:00", "Z")
        description = _description(coalition, group)
        listed = {"name": _name(coalition, group.label, LIST_NAME), "purpose": REFERENCE, "description": description}
        await writer.put(account, LIST, pack.list_rkey, listed | {"createdAt": now})
        list_uri = f"at://{repo.did}/{LIST}/{pack.list_rkey}"
        wanted = [did for m in group.members if (did := await self._did(writer, account, m.handle))]
        await writer.apply(account, _item_writes(items, list_uri, wanted, now))
        starter = {"name": _name(coalition, group.label, PACK_NAME), "description": description, "list": list_uri}
        await writer.put(account, PACK, pack.pack_rkey, starter | {"createdAt": now})

    async def _drop_beyond(
        self, writer: RepoWriter, account: Account, repo: Repo, coalition_id: int, count: int, items: list[Listed]
    ) -> None:
        """Deletes the packs the coalition no longer needs (it got smaller), their lists and items."""
        async with self.context.store.unit() as uow:
            extra = [p for p in await uow.starter_packs.of_coalition(coalition_id) if p.number > count]
        for pack in extra:
            list_uri = f"at://{repo.did}/{LIST}/{pack.list_rkey}"
            writes = [delete(ITEM, i.rkey) for i in items if i.value.get("list") == list_uri]
            await writer.apply(account, [*writes, delete(PACK, pack.pack_rkey), delete(LIST, pack.list_rkey)])
            async with self.context.store.unit() as uow:
                await uow.starter_packs.forget(coalition_id, pack.number)

    async def _keys(self, coalition_id: int, number: int) -> StarterPack:
        """The pack's record keys, stored (committed) before anything is written with them."""
        async with self.context.store.unit() as uow:
            return await uow.starter_packs.keep(coalition_id, number, new_tid(), new_tid())

    async def _did(self, writer: RepoWriter, account: Account, handle: str) -> str | None:
        if handle not in self._dids:
            did = await writer.resolve(account, handle)
            if did is None:
                return None  # a handle that no longer resolves is left out until it does again
            self._dids[handle] = did
        return self._dids[handle]

    # --- reading -----------------------------------------------------------------------------------------------

    async def _account(self, coalition_id: int) -> tuple[Account, str]:
        async with self.context.store.unit() as uow:
            coalition = await get_coalition(uow, coalition_id)
            accounts = await uow.coalition_accounts.of_coalition(coalition_id)
        bluesky = [a for a in accounts if a.platform is Platform.BLUESKY]
        if not bluesky:
            raise InvalidInput("error.pack.no_account", coalition=coalition.name)
        return bluesky[0].as_account(), coalition.name

    async def _groups(self, coalition_id: int) -> list[PackGroup]:
        """The member towns with a Bluesky account, shared out between packs (by région beyond one pack)."""
        async with self.context.store.unit() as uow:
            towns = await uow.towns.list(coalition_id)
            accounts = await uow.accounts.of_towns(t.id for t in towns)
        handles = {t: a.identifier for t, found in accounts.items() for a in found if a.platform is Platform.BLUESKY}
        linked = [(t, handles[t.id]) for t in towns if t.id in handles]
        # The reference list is read from disk on first use: not on the event loop.
        return await asyncio.to_thread(lambda: pack_groups([_member(t, h) for t, h in linked], self.pack_size))

    def _publisher(self) -> BlueskyPublisher:
        publisher = self.accounts.publisher(Platform.BLUESKY)
        if not isinstance(publisher, BlueskyPublisher):
            raise TypeError("the coalition's Bluesky publisher cannot write records")
        return publisher

    def _link(self, pack: StarterPack, label: str) -> PackLink:
        return PackLink(pack.number, label, self._url(pack.handle or "", pack.pack_rkey))

    def _url(self, handle: str, rkey: str) -> str:
        return f"{self.context.settings.bluesky_app_url.rstrip('/')}/starter-pack/{handle}/{rkey}"


def pack_failure(error: PublishError, coalition: str) -> UnissonError:
    """A write of the pack refused or lost, told as the pack's trouble (not a town's post) with what to do."""
    if isinstance(error, TransientPublishError):
        return UnissonError("error.pack.transient", coalition=coalition)
    if isinstance(error, PermanentPublishError) and error.reconnect:
        return UnissonError("error.pack.reconnect", coalition=coalition)
    return UnissonError("error.pack.refused", coalition=coalition, detail=str(error.params.get("detail", "")))


def _member(town: Town, handle: str) -> Member:
    return Member(town.name, handle, place_of(town.kind, town.code))


def _name(coalition: str, label: str, most: int) -> str:
    """« Coalition · Occitanie (1/2) », the coalition's name shortened first so that the label stays whole."""
    if not label:
        return coalition[:most]
    room = max(most - len(label) - 3, 8)
    return f"{coalition[:room].rstrip()} · {label}"[:most]


def _description(coalition: str, group: PackGroup) -> str:
    where = f" – {group.label}" if group.label else ""
    details = f" ({group.details})" if group.details else ""
    return f"Les villes de la coalition {coalition}{where}{details} sur Bluesky."[:DESCRIPTION]


def _hash(group: PackGroup) -> str:
    """What a pack was written from: its towns' handles and its name (a town moving pack changes both)."""
    return hashlib.sha256("\n".join([group.label, *(m.handle for m in group.members)]).encode()).hexdigest()


def _item_writes(items: list[Listed], list_uri: str, wanted: Sequence[str], now: str) -> list[dict[str, Any]]:
    """What turns the list's items into ``wanted``: creates for the missing, deletes for the rest and doubles."""
    present: dict[str, str] = {}
    writes: list[dict[str, Any]] = []
    for item in items:
        if item.value.get("list") != list_uri:
            continue
        subject = str(item.value.get("subject", ""))
        if subject in wanted and subject not in present:
            present[subject] = item.rkey
        else:
            writes.append(delete(ITEM, item.rkey))
    keys: set[str] = set()
    for did in wanted:
        if did not in present:
            while (key := new_tid()) in keys:  # two keys made within one microsecond may meet
                pass
            keys.add(key)
            writes.append(create(ITEM, key, {"subject": did, "list": list_uri, "createdAt": now}))
            present[did] = key
    return writes
