from __future__ import annotations

import pytest

from hub.domain import lifecycle
from hub.domain.lifecycle import Action
from hub.domain.model import AnnouncementState as S
from hub.errors import InvalidTransition


@pytest.mark.parametrize(
    ("path", "end"),
    [
        ([Action.OPEN, Action.LOCK, Action.START_PUBLISHING, Action.FINISH_PUBLISHED], S.PUBLISHED),
        ([Action.OPEN, Action.LOCK, Action.START_PUBLISHING, Action.FINISH_PARTIAL], S.PARTIALLY_FAILED),
        ([Action.OPEN, Action.LOCK, Action.UNLOCK, Action.LOCK, Action.CANCEL], S.CANCELLED),
        (
            [
                Action.OPEN,
                Action.LOCK,
                Action.START_PUBLISHING,
                Action.FINISH_PUBLISHED,
                Action.RETRACT,
                Action.FINISH_RETRACT,
            ],
            S.RETRACTED,
        ),
        ([Action.EDIT, Action.SCHEDULE, Action.OPEN, Action.SIGN, Action.EDIT], S.OPEN),
    ],
)
def test_legal_paths(path: list[Action], end: S) -> None:
    state = S.DRAFT
    for action in path:
        state = lifecycle.apply(action, state)
    assert state is end


@pytest.mark.parametrize(
    ("action", "state"),
    [
        (Action.SIGN, S.DRAFT),
        (Action.SIGN, S.LOCKED),
        (Action.EDIT, S.LOCKED),
        (Action.EDIT, S.PUBLISHED),
        (Action.CANCEL, S.PUBLISHING),
        (Action.CANCEL, S.PUBLISHED),
        (Action.RETRACT, S.LOCKED),
        (Action.LOCK, S.DRAFT),
        (Action.OPEN, S.CANCELLED),
        (Action.START_PUBLISHING, S.OPEN),
    ],
)
def test_illegal_transitions_raise_a_clear_error(action: Action, state: S) -> None:
    with pytest.raises(InvalidTransition) as caught:
        lifecycle.apply(action, state)
    french = caught.value.message("fr")
    assert "state." not in french and "error." not in french
    assert caught.value.message("en") != french


def test_cancel_after_publication_names_the_state() -> None:
    with pytest.raises(InvalidTransition) as caught:
        lifecycle.apply(Action.CANCEL, S.PUBLISHED)
    assert caught.value.message("fr") == "Impossible de annuler une annonce à l'état « publiée »." or (
        "« publiée »" in caught.value.message("fr")
    )
    assert "“published”" in caught.value.message("en")


def test_terminal_states_allow_nothing_but_retract() -> None:
    assert not any(lifecycle.allowed(action, S.RETRACTED) for action in Action)
    # A publication cancelled after an outage may have posted for some towns: those posts can be retracted.
    for state in (S.PUBLISHED, S.CANCELLED):
        assert [a for a in Action if lifecycle.allowed(a, state)] == [Action.RETRACT]


def test_a_publication_held_after_an_outage_waits_for_the_coordinator() -> None:
    assert lifecycle.apply(Action.HOLD, S.LOCKED) is S.OVERDUE
    assert lifecycle.apply(Action.HOLD, S.PUBLISHING) is S.OVERDUE
    assert {a for a in Action if lifecycle.allowed(a, S.OVERDUE)} == {Action.CONFIRM_LATE, Action.UNLOCK, Action.CANCEL}
    assert lifecycle.apply(Action.CONFIRM_LATE, S.OVERDUE) is S.PUBLISHING
