"""An announcement's thread rules: the follow-up each town posts in thread under its own post."""

from __future__ import annotations

from hub.domain.model import Platform, Wording
from hub.store.models import ThreadRuleRow
from hub.store.repositories.base import Repository


class ThreadRuleRepository(Repository):
    async def followup(self, announcement_id: int) -> Wording | None:
        """The follow-up's wording (text and per-platform variants), or None when there is none."""
        row = await self.session.get(ThreadRuleRow, announcement_id)
        if row is None or not row.followup_text:
            return None
        variants = {Platform(p): str(t) for p, t in (row.followup_variants or {}).items()}
        return Wording(row.followup_text, variants)

    async def set_followup(self, announcement_id: int, followup: Wording | None, actor_id: str) -> None:
        """Replaces the follow-up (None removes it)."""
        text = followup.text if followup is not None else None
        variants = {p.value: t for p, t in followup.variants.items()} if followup is not None else None
        row = await self.session.get(ThreadRuleRow, announcement_id, with_for_update=True)
        if row is None:
            row = ThreadRuleRow(announcement_id=announcement_id, updated_by=actor_id, updated_at=self.clock())
            self.session.add(row)
        row.followup_text, row.followup_variants = text, variants or None
        row.updated_by, row.updated_at = actor_id, self.clock()
        await self.session.flush()
