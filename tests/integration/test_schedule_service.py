"""Scheduling through the service: what the coordinator types is stored as one UTC instant, or refused."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from hub.core import Hub
from hub.errors import InvalidInput
from tests.integration.helpers import PANTIN, Setup, build_coalition, propose


@pytest.fixture
async def setup(hub: Hub, tmp_path: Path) -> Setup:
    return await build_coalition(hub, tmp_path, (PANTIN,))


async def _raw_publish_at(hub: Hub, announcement_id: int) -> object:
    async with hub.store.engine.connect() as connection:
        query = text("SELECT publish_at FROM announcements WHERE id = :id")
        return (await connection.execute(query, {"id": announcement_id})).scalar_one()


# Every way a coordinator may write "Tuesday 20 January 2026, 9:00 in Paris" (08:00 UTC in winter).
TYPED_FORMS = (
    "20/01/2026 9h",
    "20/01/2026 09:00",
    "mardi 20 janvier 2026 à 9h",
    "20 janv. 2026 9h",
    "2026-01-20T09:00",
    "2026-01-20 09:00+01:00",
    "2026-01-20T08:00Z",
)


async def test_french_and_iso_inputs_are_stored_in_utc(hub: Hub, setup: Setup) -> None:
    winter_nine_in_paris = datetime(2026, 1, 20, 8, 0, tzinfo=UTC)
    for typed in TYPED_FORMS:
        announcement = await propose(hub, setup)

        scheduled = await hub.announcements.schedule(setup.coordinator, announcement.id, typed)

        assert scheduled.publish_at == winter_nine_in_paris, typed
        assert (await hub.announcements.get(announcement.id)).publish_at == winter_nine_in_paris, typed
        raw = await _raw_publish_at(hub, announcement.id)
        # SQLite keeps no zone: the wall-clock time stored must be the UTC one, not Paris time.
        if isinstance(raw, datetime):
            assert raw == winter_nine_in_paris, typed
        else:
            assert str(raw).startswith("2026-01-20 08:00:00"), typed


async def test_summer_time_and_the_deadline_are_converted_too(hub: Hub, setup: Setup) -> None:
    announcement = await propose(hub, setup)

    scheduled = await hub.announcements.schedule(setup.coordinator, announcement.id, "20/07/2026 9h", "19/07/2026 18h")

    assert scheduled.publish_at == datetime(2026, 7, 20, 7, 0, tzinfo=UTC)
    assert scheduled.deadline == datetime(2026, 7, 19, 16, 0, tzinfo=UTC)
    [entry] = [e for e in await hub.audit.entries() if e.action == "announcement.schedule"]
    assert entry.details == {"publish_at": "2026-07-20T07:00:00+00:00", "deadline": "2026-07-19T16:00:00+00:00"}


async def test_a_past_instant_is_refused(hub: Hub, setup: Setup) -> None:
    refusals = {
        "05/01/2026 9h": "lundi 5 janvier 2026 à 09:00 (heure de Paris)",
        # The fixed clock says 09:00 UTC, 10:00 in Paris: "now" is not in the future either.
        "10/01/2026 10h": "samedi 10 janvier 2026 à 10:00 (heure de Paris)",
    }
    announcement = await propose(hub, setup)
    for typed, when in refusals.items():
        with pytest.raises(InvalidInput) as past:
            await hub.announcements.schedule(setup.coordinator, announcement.id, typed)

        assert past.value.message("fr") == (
            f"La publication doit être dans le futur : {when} est déjà passé. Indiquez une date et une heure à venir."
        )
    assert (await hub.announcements.get(announcement.id)).publish_at is None


async def test_the_refusal_speaks_the_coordinators_language(hub: Hub, setup: Setup) -> None:
    announcement = await propose(hub, setup)
    with pytest.raises(InvalidInput) as past:
        await hub.announcements.schedule(setup.coordinator, announcement.id, "05/01/2026 9h", lang="en")
    assert "Monday 5 January 2026 at 09:00 (Paris time) has already passed" in past.value.message("en")


async def test_a_time_in_the_spring_gap_is_refused_naming_the_choices(hub: Hub, setup: Setup) -> None:
    announcement = await propose(hub, setup)

    with pytest.raises(InvalidInput) as gap:
        await hub.announcements.schedule(setup.coordinator, announcement.id, "29/03/2026 2h30")

    assert gap.value.message("fr") == (
        "À Paris, dimanche 29 mars 2026 à 02:30 n'existe pas : ce jour-là les horloges passent directement "
        "de 02:00 à 03:00 (heure d'été). Choisissez 01:59 ou 03:00."
    )
    assert (await hub.announcements.get(announcement.id)).publish_at is None


async def test_an_ambiguous_time_is_refused_naming_both_readings(hub: Hub, setup: Setup) -> None:
    announcement = await propose(hub, setup)

    with pytest.raises(InvalidInput) as twice:
        await hub.announcements.schedule(setup.coordinator, announcement.id, "25/10/2026 2h30")

    message = twice.value.message("fr")
    assert message.startswith("À Paris, dimanche 25 octobre 2026 à 02:30 arrive deux fois")
    assert "Écrivez 2026-10-25T02:30+02:00 pour la première (UTC+02:00)" in message
    assert "ou 2026-10-25T02:30+01:00 pour la seconde (UTC+01:00)" in message
    assert (await hub.announcements.get(announcement.id)).publish_at is None

    # Typing back one of the readings offered is accepted as that exact instant.
    chosen = await hub.announcements.schedule(setup.coordinator, announcement.id, "2026-10-25T02:30+01:00")
    assert chosen.publish_at == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)


async def test_a_past_deadline_is_reported_as_the_deadline(hub: Hub, setup: Setup) -> None:
    announcement = await propose(hub, setup)

    with pytest.raises(InvalidInput) as past:
        await hub.announcements.schedule(setup.coordinator, announcement.id, "20/01/2026 9h", "05/01/2026 9h")

    # The publication date is fine; the message must point at the deadline, not at the publication.
    message = past.value.message("fr")
    assert "date limite" in message.lower()
    assert "lundi 5 janvier 2026 à 09:00 (heure de Paris)" in message
    assert not message.startswith("La publication doit être dans le futur")
    assert (await hub.announcements.get(announcement.id)).publish_at is None
