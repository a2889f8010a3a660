"""The quorum through the services, on SQLite and PostgreSQL: set when proposing or later, refused when it
cannot mean anything, the lock refused short of it, and at the deadline the coordinators asked once — then
each of their choices (lower it, move the dates, cancel) taken."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.core import Hub
from hub.domain.model import AnnouncementState, ReportKind
from hub.domain.quorum import Quorum, QuorumTally
from hub.errors import InvalidInput, InvalidTransition, PermissionDenied
from tests.conftest import Clock
from tests.integration.helpers import KREMLIN, PANTIN, SAINT_REMY, Setup, build_coalition, link_bluesky, propose

PUBLISH = "20/01/2026 9h"
DEADLINE = "15/01/2026 18h"
AT_DEADLINE = datetime(2026, 1, 15, 17, 0, tzinfo=UTC)
CODES = (PANTIN, KREMLIN, SAINT_REMY)


@pytest.fixture
async def trio(hub: Hub, tmp_path: Path) -> Setup:
    setup = await build_coalition(hub, tmp_path, CODES)
    for code in CODES:
        await link_bluesky(hub, setup, code)
    return setup


async def _scheduled(hub: Hub, setup: Setup, quorum: str, signers: tuple[str, ...] = (PANTIN,)) -> int:
    """An open announcement with ``quorum``, dated, signed by ``signers``."""
    announcement = await propose(hub, setup, quorum=quorum)
    await hub.announcements.schedule(setup.coordinator, announcement.id, PUBLISH, DEADLINE)
    for code in signers:
        await hub.announcements.sign(setup.officer(code), announcement.id)
    return announcement.id


async def _quorum_reports(hub: Hub, announcement_id: int) -> list[dict[str, str]]:
    return [
        r.problem.params if r.problem else {}
        for r in await hub.dispatch.reports()
        if r.kind is ReportKind.QUORUM_MISSED and r.announcement_id == announcement_id
    ]


async def test_a_quorum_is_set_when_proposing_as_a_count_or_a_share(hub: Hub, trio: Setup) -> None:
    counted = await propose(hub, trio, quorum="2")
    shared = await propose(hub, trio, quorum="50 %", draft=True)

    assert counted.quorum == Quorum(towns=2) and counted.state is AnnouncementState.OPEN
    assert shared.quorum == Quorum(percent=50) and shared.state is AnnouncementState.DRAFT
    assert await hub.quorum.tally(shared.id) == QuorumTally(0, 2, 3)
    assert await hub.quorum.tally((await propose(hub, trio)).id) is None
    [proposal] = [e for e in await hub.audit.entries(announcement_id=shared.id) if e.action == "announcement.propose"]
    assert proposal.details["quorum"] == "50%"


async def test_a_quorum_that_cannot_mean_anything_is_refused_and_nothing_is_proposed(hub: Hub, trio: Setup) -> None:
    with pytest.raises(InvalidInput) as refused:
        await propose(hub, trio, quorum="4")
    assert refused.value.message("fr").startswith("Un quorum de 4 villes ne pourrait pas être atteint")
    with pytest.raises(InvalidInput) as share:
        await propose(hub, trio, quorum="150%")
    assert share.value.message("fr") == (
        "« 150% » n'est pas un quorum : le quorum doit être un nombre de villes entre 1 et 3 ou un pourcentage "
        "entre 1 % et 100 % (par exemple 800 ou 50 %) ; « aucun » le retire."
    )
    assert await hub.announcements.list(trio.coalition.id) == []


async def test_the_lock_is_refused_until_the_quorum_is_reached(hub: Hub, trio: Setup) -> None:
    announcement_id = await _scheduled(hub, trio, "2")

    with pytest.raises(InvalidInput) as refused:
        await hub.announcements.lock(trio.coordinator, announcement_id)
    assert refused.value.message("fr").startswith(
        "Verrouillage refusé : quorum non atteint, 1/2 signatures requises (il en manque 1)."
    )
    assert (await hub.announcements.get(announcement_id)).state is AnnouncementState.OPEN

    await hub.announcements.sign(trio.officer(KREMLIN), announcement_id)
    assert (await hub.announcements.lock(trio.coordinator, announcement_id)).deliveries == 2


async def test_a_coordinator_sets_changes_and_removes_it_and_the_audit_log_keeps_each(hub: Hub, trio: Setup) -> None:
    announcement_id = await _scheduled(hub, trio, "3")

    lowered = await hub.quorum.set(trio.coordinator, announcement_id, "50%")
    assert lowered.announcement.quorum == Quorum(percent=50)
    assert (lowered.tally, lowered.judged) == (QuorumTally(1, 2, 3), False)
    removed = await hub.quorum.set(trio.coordinator, announcement_id, "aucun")
    assert removed.announcement.quorum is None and removed.tally is None

    changes = [
        e.details for e in await hub.audit.entries(announcement_id=announcement_id) if e.action == "announcement.quorum"
    ]
    assert changes == [
        {"quorum": "50%", "previous": "3", "signed": 1, "required": 2, "members": 3},
        {"quorum": None, "previous": "50%"},
    ]


async def test_only_a_coordinator_sets_it_and_only_before_the_lock(hub: Hub, trio: Setup) -> None:
    announcement_id = await _scheduled(hub, trio, "1")
    with pytest.raises(PermissionDenied):
        await hub.quorum.set(trio.officer(PANTIN), announcement_id, "2")
    with pytest.raises(InvalidInput) as typo:
        await hub.quorum.set(trio.coordinator, announcement_id, "deux")
    assert typo.value.message("en").startswith('"deux" is not a quorum: the quorum must be a number of towns')

    await hub.announcements.lock(trio.coordinator, announcement_id)
    with pytest.raises(InvalidTransition) as locked:
        await hub.quorum.set(trio.coordinator, announcement_id, "2")
    assert locked.value.message("fr") == (
        "Le quorum ne peut plus être changé : l'annonce est à l'état « verrouillée ». "
        "Déverrouillez-la d'abord (!deverrouiller) si la publication n'a pas commencé."
    )


async def test_missed_at_the_deadline_the_coordinators_are_asked_once(hub: Hub, trio: Setup, clock: Clock) -> None:
    announcement_id = await _scheduled(hub, trio, "2")

    assert await hub.quorum.ask_when_missed(datetime(2026, 1, 15, 16, 59, tzinfo=UTC)) == []
    clock.now = AT_DEADLINE
    assert await hub.quorum.ask_when_missed(AT_DEADLINE) == [announcement_id]
    # The next turns of the dispatcher, or another worker, do not ask again.
    assert await hub.quorum.ask_when_missed(AT_DEADLINE) == []

    assert await _quorum_reports(hub, announcement_id) == [{"signed": "1", "required": "2", "members": "3"}]
    waiting = await hub.announcements.get(announcement_id)
    assert (waiting.state, waiting.quorum_missed_at) == (AnnouncementState.OPEN, AT_DEADLINE)
    [missed] = [e for e in await hub.audit.entries(announcement_id=announcement_id) if e.action.endswith("missed")]
    assert (missed.actor, missed.details) == ("system:dispatcher", {"signed": 1, "required": 2, "members": 3})
    with pytest.raises(InvalidInput, match="quorum not reached, 1/2 signatures required"):
        await hub.announcements.lock(trio.coordinator, announcement_id)


async def test_two_workers_at_the_deadline_ask_once(hub: Hub, trio: Setup, clock: Clock) -> None:
    announcement_id = await _scheduled(hub, trio, "2")
    clock.now = AT_DEADLINE
    turns = await asyncio.gather(*(hub.quorum.ask_when_missed(AT_DEADLINE) for _ in range(2)))
    assert sorted(turns) == [[], [announcement_id]]
    assert len(await _quorum_reports(hub, announcement_id)) == 1


async def test_reached_at_the_deadline_nobody_is_asked(hub: Hub, trio: Setup, clock: Clock) -> None:
    announcement_id = await _scheduled(hub, trio, "2", (PANTIN, KREMLIN))
    clock.now = AT_DEADLINE
    assert await hub.quorum.ask_when_missed(AT_DEADLINE) == []
    assert await _quorum_reports(hub, announcement_id) == []


async def test_without_a_deadline_it_is_judged_at_the_publication_instant(hub: Hub, trio: Setup) -> None:
    announcement = await propose(hub, trio, quorum="2")
    await hub.announcements.schedule(trio.coordinator, announcement.id, PUBLISH)
    assert await hub.quorum.ask_when_missed(AT_DEADLINE) == []
    assert await hub.quorum.ask_when_missed(datetime(2026, 1, 20, 8, 0, tzinfo=UTC)) == [announcement.id]


async def test_lowering_the_quorum_after_the_deadline_lets_it_be_locked(hub: Hub, trio: Setup, clock: Clock) -> None:
    announcement_id = await _scheduled(hub, trio, "2")
    clock.now = AT_DEADLINE
    await hub.quorum.ask_when_missed(AT_DEADLINE)

    still = await hub.quorum.set(trio.coordinator, announcement_id, "3")
    assert (still.judged, still.tally and still.tally.met) == (True, False)
    assert still.announcement.quorum_missed_at == AT_DEADLINE  # the answer told them: no second question
    lowered = await hub.quorum.set(trio.coordinator, announcement_id, "1")
    assert (lowered.judged, lowered.tally and lowered.tally.met) == (True, True)
    assert lowered.announcement.quorum_missed_at is None

    assert (await hub.announcements.lock(trio.coordinator, announcement_id)).deliveries == 1
    assert await hub.quorum.ask_when_missed(AT_DEADLINE) == []
    assert len(await _quorum_reports(hub, announcement_id)) == 1


async def test_a_quorum_first_set_after_the_deadline_is_judged_in_the_answer(
    hub: Hub, trio: Setup, clock: Clock
) -> None:
    announcement = await propose(hub, trio)
    await hub.announcements.schedule(trio.coordinator, announcement.id, PUBLISH, DEADLINE)
    clock.now = AT_DEADLINE

    change = await hub.quorum.set(trio.coordinator, announcement.id, "1")
    assert (change.judged, change.tally) == (True, QuorumTally(0, 1, 3))
    # The coordinator read the verdict in the answer: the room is not asked on top of it.
    assert await hub.quorum.ask_when_missed(AT_DEADLINE) == []


async def test_new_dates_judge_it_again_at_the_new_deadline(hub: Hub, trio: Setup, clock: Clock) -> None:
    announcement_id = await _scheduled(hub, trio, "2")
    clock.now = AT_DEADLINE
    await hub.quorum.ask_when_missed(AT_DEADLINE)

    moved = await hub.announcements.schedule(trio.coordinator, announcement_id, "27/01/2026 9h", "22/01/2026 18h")
    assert moved.quorum_missed_at is None
    assert await hub.quorum.ask_when_missed(AT_DEADLINE) == []
    new_deadline = datetime(2026, 1, 22, 17, 0, tzinfo=UTC)
    assert await hub.quorum.ask_when_missed(new_deadline) == [announcement_id]
    assert len(await _quorum_reports(hub, announcement_id)) == 2

    await hub.announcements.schedule(trio.coordinator, announcement_id, "03/02/2026 9h", "01/02/2026 18h")
    await hub.announcements.sign(trio.officer(SAINT_REMY), announcement_id)
    assert await hub.quorum.ask_when_missed(datetime(2026, 2, 1, 17, 0, tzinfo=UTC)) == []
    assert (await hub.announcements.lock(trio.coordinator, announcement_id)).deliveries == 2


async def test_a_cancelled_announcement_is_never_asked_about(hub: Hub, trio: Setup, clock: Clock) -> None:
    announcement_id = await _scheduled(hub, trio, "3")
    await hub.announcements.cancel(trio.coordinator, announcement_id)
    clock.now = AT_DEADLINE
    assert await hub.quorum.ask_when_missed(AT_DEADLINE) == []
