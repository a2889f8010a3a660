"""From rows to domain values, and failures to and from their JSON column."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from hub.domain.model import (
    Account,
    AnnouncementMessage,
    AuditEntry,
    Coalition,
    Credential,
    Delivery,
    DeliveryKind,
    DeliveryState,
    Failure,
    ImageRef,
    Platform,
    Report,
    ReportKind,
    SignOn,
    SignOnState,
    Town,
    TownKind,
    Version,
    Wording,
)
from hub.store.models import (
    AccountRow,
    AnnouncementMessageRow,
    AuditRow,
    CoalitionRow,
    DeliveryRow,
    ReportRow,
    SignOnRow,
    TownRow,
    VersionRow,
)
from hub.store.models.members import LinkedAccountColumns

# The members by stored value: a dictionary look-up, several times cheaper than the enum's call, for the rows
# read by the thousand at the instant.
_PLATFORMS = {member.value: member for member in Platform}
_DELIVERY_STATES = {member.value: member for member in DeliveryState}
_DELIVERY_KINDS = {member.value: member for member in DeliveryKind}
_CREDENTIALS = {member.value: member for member in Credential}


def to_coalition(row: CoalitionRow) -> Coalition:
    return Coalition(id=row.id, name=row.name, room_id=row.room_id, language=row.language)


def to_town(row: TownRow) -> Town:
    return Town(
        id=row.id,
        kind=TownKind(row.kind),
        code=row.code,
        name=row.name,
        timezone=row.timezone,
        profile=dict(row.profile or {}),
    )


def linked_fields(row: LinkedAccountColumns) -> dict[str, Any]:
    """What a town's account and a coalition's own carry alike, from the columns their tables share."""
    return {
        "id": row.id,
        "platform": _PLATFORMS[row.platform],
        "identifier": row.identifier,
        "server": row.server,
        "limits": dict(row.limits or {}),
        "last_verified_at": row.last_verified_at,
        "last_error": row.last_error,
    }


def to_account(row: AccountRow | sa.Row[Any]) -> Account:
    """An account from its ORM object or a plain row of (at least) the columns it shows."""
    shown = (row.id, row.town_id, row.platform, row.identifier, row.server, row.limits)
    return account_of(*shown, row.last_verified_at, row.last_error, row.credential)


def account_of(
    id: int,
    town_id: int,
    platform: str,
    identifier: str,
    server: str,
    limits: dict[str, Any] | None,
    last_verified_at: datetime | None,
    last_error: str | None,
    credential: str,
) -> Account:
    """An account from its columns' values, in :class:`~hub.domain.model.Account`'s order (``limits`` copied: each
    account gets its own dict). A row's values unpacked at once cost a fraction of reading them by name."""
    return Account(
        id, town_id, _PLATFORMS[platform], identifier, server, dict(limits or {}), last_verified_at, last_error,
        _CREDENTIALS[credential],
    )  # fmt: skip


def _wording(row: VersionRow) -> Wording:
    return Wording(
        text=row.text,
        variants={Platform(k): v for k, v in (row.variants or {}).items()},
        images=tuple(ImageRef(**image) for image in (row.images or [])),
    )


def to_version(row: VersionRow) -> Version:
    return Version(
        id=row.id,
        announcement_id=row.announcement_id,
        number=row.number,
        wording=_wording(row),
        content_hash=row.content_hash,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def to_signon(town: Town, row: SignOnRow | None) -> SignOn:
    """The town's sign-on; a town with no row is pending."""
    if row is None:
        return SignOn(town=town, state=SignOnState.PENDING)
    return SignOn(
        town=town,
        state=SignOnState(row.state),
        version_number=row.version_number,
        by=row.by_user,
        at=row.at,
        reason=row.reason,
        override_text=row.override_text,
        previous_version_number=row.previous_version_number,
    )


#: The delivery's columns a worker acts on (a claim reads only these, then a few of its own), in
#: :func:`working_delivery`'s order: not its dates nor its errors.
WORKING_COLUMNS = (
    "id", "announcement_id", "town_id", "account_id", "platform", "text", "idempotency_key", "state", "attempts",
    "remote_id", "parent_id", "kind",
)  # fmt: skip


def working_delivery(
    id: int,
    announcement_id: int,
    town_id: int,
    account_id: int | None,
    platform: str,
    text: str,
    idempotency_key: str,
    state: str,
    attempts: int,
    remote_id: str | None,
    parent_id: int | None,
    kind: str,
) -> Delivery:
    """A delivery from the values of :data:`WORKING_COLUMNS`, in that order (see :func:`account_of`)."""
    return Delivery(
        id, announcement_id, town_id, account_id, _PLATFORMS[platform], text, idempotency_key,
        _DELIVERY_STATES[state], attempts, remote_id=remote_id, parent_id=parent_id, kind=_DELIVERY_KINDS[kind],
    )  # fmt: skip


def to_delivery(row: DeliveryRow | sa.Row[Any]) -> Delivery:
    """A delivery from its ORM object or a plain row of its columns."""
    return dataclasses.replace(
        working_delivery(*(getattr(row, name) for name in WORKING_COLUMNS)),
        next_attempt_at=row.next_attempt_at,
        remote_url=row.remote_url,
        published_at=row.published_at,
        last_error=row.last_error,
        error=failure_of(row.error),
        preflight_error=failure_of(row.preflight_error),
    )


def to_audit(row: AuditRow) -> AuditEntry:
    return AuditEntry(
        id=row.id,
        at=row.at,
        actor=row.actor,
        action=row.action,
        coalition_id=row.coalition_id,
        announcement_id=row.announcement_id,
        town_id=row.town_id,
        version_number=row.version_number,
        details=dict(row.details or {}),
    )


def to_message(row: AnnouncementMessageRow) -> AnnouncementMessage:
    return AnnouncementMessage(
        row.announcement_id, row.channel, row.message_id, row.purpose, row.author, row.town_id, row.media_sha256
    )


def to_report(row: ReportRow) -> Report:
    return Report(
        id=row.id,
        kind=ReportKind(row.kind),
        coalition_id=row.coalition_id,
        announcement_id=row.announcement_id,
        town_id=row.town_id,
        platform=Platform(row.platform) if row.platform else None,
        problem=failure_of(row.problem),
        created_at=row.created_at,
    )


def failure_json(failure: Failure | None) -> dict[str, Any] | None:
    if failure is None:
        return None
    return {
        "key": failure.key,
        "params": failure.params,
        "permanent": failure.permanent,
        "reconnect": failure.reconnect,
    }


def failure_of(value: dict[str, Any] | None) -> Failure | None:
    if not value:
        return None
    params = {str(k): str(v) for k, v in dict(value.get("params") or {}).items()}
    return Failure(str(value["key"]), params, bool(value.get("permanent", True)), bool(value.get("reconnect", False)))
