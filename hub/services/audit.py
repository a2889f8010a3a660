"""The audit log, read back and exported as CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime

from hub.domain.model import AuditEntry
from hub.errors import InvalidInput
from hub.services.context import ServiceContext

FIELDS = (
    "id",
    "at",
    "actor",
    "action",
    "coalition_id",
    "announcement_id",
    "town_id",
    "version_number",
    "details",
)


class AuditService:
    def __init__(self, context: ServiceContext) -> None:
        self.context = context

    async def entries(
        self,
        *,
        coalition_id: int | None = None,
        announcement_id: int | None = None,
        since: datetime | None = None,
    ) -> list[AuditEntry]:
        async with self.context.store.unit() as uow:
            return await uow.audit.list(coalition_id=coalition_id, announcement_id=announcement_id, since=since)

    async def export(self, fmt: str, **filters: object) -> str:
        """Every matching entry as CSV (one row each, details as JSON) or as a JSON array."""
        entries = await self.entries(**filters)  # type: ignore[arg-type]
        rows = [_row(e) for e in entries]
        if fmt == "json":
            return json.dumps(rows, ensure_ascii=False, indent=2) + "\n"
        if fmt == "csv":
            out = io.StringIO()
            writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
            writer.writeheader()
            writer.writerows({**r, "details": json.dumps(r["details"], ensure_ascii=False)} for r in rows)
            return out.getvalue()
        raise InvalidInput("error.audit.format", format=fmt)


def _row(entry: AuditEntry) -> dict[str, object]:
    return {
        "id": entry.id,
        "at": entry.at.isoformat(),
        "actor": entry.actor,
        "action": entry.action,
        "coalition_id": entry.coalition_id,
        "announcement_id": entry.announcement_id,
        "town_id": entry.town_id,
        "version_number": entry.version_number,
        "details": entry.details,
    }
