"""A town's follow-up (the second post, in thread under its own) on each platform, and whether it fits.

The follow-up is written like the main text (placeholders, per-platform variants) and checked the same way; a
follow-up that does not fit is named as such, so the coordinator knows which of the two texts to shorten.
"""

from __future__ import annotations

from collections.abc import Sequence

from hub.domain.model import Account, Platform, Town, Wording
from hub.errors import Problem, UnissonError
from hub.text.renderings import renderings, too_long

#: ``text.fit.over.graphemes`` becomes ``text.followup.over.graphemes``.
_FIT, _FOLLOWUP = "text.fit.", "text.followup."


def followup_texts(
    town: Town, followup: Wording | None, accounts: Sequence[Account]
) -> tuple[dict[Platform, str], list[UnissonError], list[UnissonError]]:
    """The town's follow-up per platform, what fails to render, and what is too long (empty without one)."""
    if followup is None:
        return {}, [], []
    texts, missing = renderings(town, None, followup, accounts)
    over = [_as_followup(problem) for problem in too_long(town, texts)]
    return {platform: text for platform, _, text in texts}, missing, over


def _as_followup(problem: UnissonError) -> UnissonError:
    return Problem(problem.message_key.replace(_FIT, _FOLLOWUP, 1), **problem.params)
