"""The announcement lifecycle as a table: which action is allowed in which state, and where it leads.

draft → open (for sign-on) → locked (deliveries frozen) → publishing → published | partially_failed;
cancel before publishing; retract after. A locked announcement whose instant passed during an outage is
held (overdue) until the coordinator confirms a late publication, re-opens or cancels it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from hub.domain.model import AnnouncementState as S
from hub.errors import InvalidTransition


class Action(enum.StrEnum):
    OPEN = "open"
    EDIT = "edit"
    SCHEDULE = "schedule"
    QUORUM = "quorum"
    SIGN = "sign"
    LOCK = "lock"
    UNLOCK = "unlock"
    CANCEL = "cancel"
    HOLD = "hold"
    CONFIRM_LATE = "confirm_late"
    START_PUBLISHING = "start_publishing"
    FINISH_PUBLISHED = "finish_published"
    FINISH_PARTIAL = "finish_partial"
    RETRACT = "retract"
    FINISH_RETRACT = "finish_retract"


@dataclass(frozen=True, slots=True)
class Rule:
    allowed_from: frozenset[S]
    #: The state after the action; None when the action keeps the state.
    to: S | None


RULES: dict[Action, Rule] = {
    Action.OPEN: Rule(frozenset({S.DRAFT}), S.OPEN),
    Action.EDIT: Rule(frozenset({S.DRAFT, S.OPEN}), None),
    Action.SCHEDULE: Rule(frozenset({S.DRAFT, S.OPEN}), None),
    Action.QUORUM: Rule(frozenset({S.DRAFT, S.OPEN}), None),
    Action.SIGN: Rule(frozenset({S.OPEN}), None),
    Action.LOCK: Rule(frozenset({S.OPEN}), S.LOCKED),
    Action.UNLOCK: Rule(frozenset({S.LOCKED, S.OVERDUE}), S.OPEN),
    Action.CANCEL: Rule(frozenset({S.DRAFT, S.OPEN, S.LOCKED, S.OVERDUE}), S.CANCELLED),
    Action.HOLD: Rule(frozenset({S.LOCKED, S.PUBLISHING}), S.OVERDUE),
    Action.CONFIRM_LATE: Rule(frozenset({S.OVERDUE}), S.PUBLISHING),
    Action.START_PUBLISHING: Rule(frozenset({S.LOCKED}), S.PUBLISHING),
    Action.FINISH_PUBLISHED: Rule(frozenset({S.PUBLISHING}), S.PUBLISHED),
    Action.FINISH_PARTIAL: Rule(frozenset({S.PUBLISHING}), S.PARTIALLY_FAILED),
    Action.RETRACT: Rule(frozenset({S.PUBLISHED, S.PARTIALLY_FAILED, S.CANCELLED}), S.RETRACTING),
    Action.FINISH_RETRACT: Rule(frozenset({S.RETRACTING}), S.RETRACTED),
}


def allowed(action: Action, state: S) -> bool:
    return state in RULES[action].allowed_from


def apply(action: Action, state: S) -> S:
    """The state after ``action``, or :class:`InvalidTransition` naming the action and the state."""
    rule = RULES[action]
    if state not in rule.allowed_from:
        raise InvalidTransition(f"error.transition.{action.value}", state=f"state.{state.value}")
    return rule.to or state
