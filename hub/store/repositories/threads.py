"""An announcement's thread rules: the follow-up each town posts in thread under its own post, and the pin."""

from __future__ import annotations

from hub.domain.model import Platform, ThreadRules, Wording
from hub.store.models import ThreadRuleRow
from hub.store.repositories.base import Repository


class ThreadRuleRepository(Repository):
    async def rules(self, announcement_id: int) -> ThreadRules:
        row = await self.session.get(ThreadRuleRow, announcement_id)
        if row is None:
            return ThreadRules()
        return ThreadRules(_followup(row), row.pin)

    async def followup(self, announcement_id: int) -> Wording | None:
        """The follow-up's wording (text and per-platform variants), or None when there is none."""
        return (await self.rules(announcement_id)).followup

    async def set_followup(self, announcement_id: int, followup: Wording | None, actor_id: str) -> None:
        """Replaces the follow-up (None removes it)."""
        row = await self._row(announcement_id, actor_id)
        variants = {p.value: t for p, t in followup.variants.items()} if followup is not None else {}
        row.followup_text = followup.text if followup is not None else None
        row.followup_variants = variants or None
        await self.session.flush()

    async def set_pin(self, announcement_id: int, pin: bool, actor_id: str) -> None:
        row = await self._row(announcement_id, actor_id)
        row.pin = pin
        await self.session.flush()

    async def _row(self, announcement_id: int, actor_id: str) -> ThreadRuleRow:
        """The announcement's row, locked and marked as changed by ``actor_id`` now (created if missing)."""
        row = await self.session.get(ThreadRuleRow, announcement_id, with_for_update=True)
        if row is None:
            row = ThreadRuleRow(announcement_id=announcement_id, pin=False)
            self.session.add(row)
        row.updated_by, row.updated_at = actor_id, self.clock()
        return row


def _followup(row: ThreadRuleRow) -> Wording | None:
    if not row.followup_text:
        return None
    variants = {Platform(p): str(t) for p, t in (row.followup_variants or {}).items()}
    return Wording(row.followup_text, variants)
