"""The quorum's pure rules: what a coordinator may type, how many signatures it takes, when it is judged, and
the lock refused short of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.domain.model import Announcement, AnnouncementState
from hub.domain.quorum import Quorum, QuorumTally, check_moment, judged, parse_quorum, require_quorum
from hub.errors import InvalidInput

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def _announcement(
    quorum: Quorum | None, deadline: datetime | None = None, publish_at: datetime | None = None
) -> Announcement:
    return Announcement(
        1, 1, "Départ de X", AnnouncementState.OPEN, "fr", False, "@c:test", NOW, None, deadline, publish_at,
        quorum=quorum,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("800", Quorum(towns=800)),
        (" 1 600 ", Quorum(towns=1600)),
        ("1\u202f600", Quorum(towns=1600)),
        ("50%", Quorum(percent=50)),
        ("50 %", Quorum(percent=50)),
        ("100%", Quorum(percent=100)),
        ("1%", Quorum(percent=1)),
        ("aucun", None),
        ("Aucun", None),
        ("none", None),
    ],
)
def test_what_a_coordinator_may_type(typed: str, expected: Quorum | None) -> None:
    assert parse_quorum(typed, 1600) == expected


@pytest.mark.parametrize("typed", ["0", "0%", "101%", "50,5%", "-3", "moitié", "", "%", "50%%", "1/2"])
def test_anything_else_is_refused_with_what_is_accepted(typed: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_quorum(typed, 1600)
    assert refused.value.message("fr") == (
        f"« {typed.strip()} » n'est pas un quorum : le quorum doit être un nombre de villes entre 1 et 1\u202f600 ou "
        "un pourcentage entre 1 % et 100 % (par exemple 800 ou 50 %) ; « aucun » le retire."
    )
    assert "between 1 and 1,600 or a percentage between 1% and 100%" in refused.value.message("en")


def test_more_towns_than_the_coalition_has_is_refused_with_its_size() -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_quorum("2000", 1600)
    assert refused.value.message("fr").startswith(
        "Un quorum de 2\u202f000 villes ne pourrait pas être atteint : la coalition compte 1\u202f600 villes."
    )


def test_a_share_is_rounded_up_and_never_below_one() -> None:
    assert Quorum(percent=50).required(1600) == 800
    assert Quorum(percent=50).required(3) == 2
    assert Quorum(percent=1).required(10) == 1
    assert Quorum(percent=10).required(0) == 1
    assert Quorum(towns=800).required(500) == 800


def test_a_quorum_is_a_count_or_a_share_not_both() -> None:
    with pytest.raises(ValueError, match="not both"):
        Quorum(towns=3, percent=50)
    with pytest.raises(ValueError, match="not both"):
        Quorum()


def test_the_tally_says_what_is_missing() -> None:
    tally = Quorum(towns=800).tally(412, 1600)
    assert tally == QuorumTally(412, 800, 1600)
    assert (tally.met, tally.missing) == (False, 388)
    assert Quorum(percent=50).tally(800, 1600).met
    assert tally.as_details() == {"signed": 412, "required": 800, "members": 1600}
    assert Quorum(percent=50).typed() == "50%" and Quorum(towns=800).typed() == "800"


def test_judged_at_the_deadline_else_at_the_publication_instant() -> None:
    deadline, publish = NOW + timedelta(days=1), NOW + timedelta(days=2)
    both = _announcement(Quorum(towns=2), deadline, publish)
    assert check_moment(both) == deadline
    assert not judged(both, NOW)
    assert judged(both, deadline)
    only_publish = _announcement(Quorum(towns=2), None, publish)
    assert check_moment(only_publish) == publish
    assert not judged(only_publish, deadline) and judged(only_publish, publish)
    assert not judged(_announcement(None, deadline, publish), publish)
    assert not judged(_announcement(Quorum(towns=2)), NOW + timedelta(days=365))


def test_the_lock_is_refused_short_of_the_quorum_with_the_count() -> None:
    require_quorum(3, None, 0, 10)
    require_quorum(3, Quorum(towns=800), 800, 1600)
    with pytest.raises(InvalidInput) as refused:
        require_quorum(3, Quorum(towns=800), 412, 1600)
    assert refused.value.message("fr") == (
        "Verrouillage refusé : quorum non atteint, 412/800 signatures requises (il en manque 388). Attendez "
        "d'autres signatures, abaissez le quorum (!quorum 3 <nombre>) ou retirez-le (!quorum 3 aucun)."
    )
