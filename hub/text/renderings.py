"""A town's text on every platform it posts to, rendered from the wording (or the town's own text), and
whether each fits that platform's limits. Problems are collected, not raised one by one, so that the
coordinator sees every town's at once."""

from __future__ import annotations

from collections.abc import Sequence

from hub.domain.model import Account, Platform, Town, Wording
from hub.errors import ProblemList, TextDoesNotFit, UnissonError
from hub.text.fit import Limits, check_fit
from hub.text.template import render

#: A town's rendered text for one platform, with that platform's limits.
Rendering = tuple[Platform, Limits, str]


def targets(accounts: Sequence[Account]) -> list[tuple[Platform, Limits]]:
    """The platforms a town posts to (both, to warn early, while it has linked none) and their limits."""
    linked = {a.platform: a for a in accounts}
    platforms = sorted(linked) if linked else list(Platform)
    return [(p, account_limits(linked.get(p))) for p in platforms]


def account_limits(account: Account | None) -> Limits:
    """A Mastodon account's limits are its server's; every other platform's are the defaults."""
    if account is None or account.platform is not Platform.MASTODON:
        return Limits()
    return Limits(
        mastodon_chars=int(account.limits.get("max_characters", 500)),
        mastodon_url_length=int(account.limits.get("characters_reserved_per_url", 23)),
    )


def renderings(
    town: Town, override: str | None, wording: Wording | None, accounts: Sequence[Account]
) -> tuple[list[Rendering], list[UnissonError]]:
    """The town's text on each platform it posts to; a template is rendered once, its failure reported once."""
    rendered: dict[str, str | UnissonError] = {}
    texts: list[Rendering] = []
    for platform, limits in targets(accounts):
        template = override or (wording.for_platform(platform) if wording else "")
        if template not in rendered:
            try:
                rendered[template] = render(template, town)
            except UnissonError as problem:
                rendered[template] = problem
        text = rendered[template]
        if isinstance(text, str):
            texts.append((platform, limits, text))
    return texts, [p for p in rendered.values() if isinstance(p, UnissonError)]


def too_long(town: Town, texts: Sequence[Rendering]) -> list[UnissonError]:
    """What each text that does not fit its platform is over by."""
    problems: list[UnissonError] = []
    for platform, limits, text in texts:
        try:
            check_fit(text, platform, limits, town.name)
        except UnissonError as problem:
            problems.append(problem)
    return problems


def raise_problems(missing: Sequence[UnissonError], over: Sequence[UnissonError]) -> None:
    """Empty fields first (shortening would not help), then texts that are too long."""
    if missing:
        raise ProblemList("error.template.heading", problems=missing)
    if over:
        raise TextDoesNotFit(problems=over)
