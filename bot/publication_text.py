"""What the room reads about a publication: the status line, the failures with what to do, the recaps.

Pure functions of the hub's values (no Matrix, no store), so they can be read and tested on their own;
:mod:`bot.publication` sends what they return. Long lists (a coalition of 1,600 towns) are split over several
messages by :func:`bot.render.paginate`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bot.pages import add_public_page
from bot.render import Reply, Rich, Section, paginate
from hub.domain.model import Announcement, Delivery, DeliveryState, Failure, Platform, Progress, Town
from hub.i18n import format_instant, translate
from hub.services.dispatch import Outcome


class Stage(enum.Enum):
    """When a post met its problem: what the town can still do about it depends on it."""

    PREFLIGHT = "preflight"
    PUBLISH = "publish"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class Tally:
    """How far a publication or a retraction has gone, in posts."""

    total: int
    succeeded: int
    failed: int

    @property
    def done(self) -> int:
        return self.succeeded + self.failed

    @property
    def waiting(self) -> int:
        return max(0, self.total - self.done)


@dataclass(frozen=True, slots=True)
class Problem:
    """One town's post that met a problem, with whom to tell."""

    town: str
    platform: Platform | None
    failure: Failure | None
    officers: Sequence[str]
    #: The post, when it is still online (its deletion failed).
    url: str | None = None


def publication_tally(progress: Progress) -> Tally:
    """A publication under way, from the hub's counts."""
    return Tally(progress.total, progress.published, progress.failed)


def posted_tally(outcomes: Iterable[Outcome]) -> Tally:
    """What a finished publication did (posts later retracted still count as made)."""
    counted = [o.delivery for o in outcomes if o.delivery.state is not DeliveryState.CANCELLED]
    made = sum(1 for d in counted if d.remote_id is not None)
    failed = sum(1 for d in counted if d.remote_id is None and d.state is DeliveryState.FAILED)
    return Tally(len(counted), made, failed)


def retraction_tally(outcomes: Iterable[Outcome]) -> Tally:
    """A retraction: the posts that were made, how many are deleted, how many could not be."""
    posts = [o.delivery for o in outcomes if o.delivery.remote_id is not None]
    deleted = sum(1 for d in posts if d.state is DeliveryState.RETRACTED)
    return Tally(len(posts), deleted, sum(1 for d in posts if d.state is DeliveryState.FAILED))


# --- the status message -----------------------------------------------------------------------------------

_PROGRESS_KEYS = {
    (False, True): "bot.publication.progress.running",
    (False, False): "bot.publication.progress.done",
    (True, True): "bot.publication.retraction.progress.running",
    (True, False): "bot.publication.retraction.progress.done",
}


def progress_reply(announcement: Announcement, tally: Tally, lang: str, *, retraction: bool, running: bool) -> Reply:
    """``⏳ Publication de l'annonce n°3 « … » : 812/3 200 — …``, or its final form once done."""
    key = _PROGRESS_KEYS[(retraction, running)]
    text = _about(
        key,
        announcement,
        lang,
        done=tally.done,
        total=tally.total,
        succeeded=tally.succeeded,
        failed=tally.failed,
        waiting=tally.waiting,
    )
    return Reply.text(text)


# --- problems ------------------------------------------------------------------------------------------------

_HEADINGS = {
    Stage.PREFLIGHT: "bot.publication.preflight.heading",
    Stage.PUBLISH: "bot.publication.failed.heading",
    Stage.DELETE: "bot.publication.retraction.failed.heading",
}
#: A server published a pre-staged post at once (see :mod:`hub.publishers.mastodon_staging`).
EARLY = "publish.mastodon.published_early"
_ADVICE = {
    (Stage.PREFLIGHT, True): "bot.publication.advice.preflight.reconnect",
    (Stage.PREFLIGHT, False): "bot.publication.advice.preflight",
    (Stage.PUBLISH, True): "bot.publication.advice.publish.reconnect",
    (Stage.PUBLISH, False): "bot.publication.advice.publish",
    (Stage.DELETE, True): "bot.publication.advice.delete",
    (Stage.DELETE, False): "bot.publication.advice.delete",
}


def problems_message(
    announcement: Announcement, problems: Sequence[Problem], stage: Stage, lang: str, prefix: str
) -> list[Reply]:
    """Tells the officers of each town concerned what went wrong and what to do (one or more messages)."""
    head = Rich().strong(
        _about(_HEADINGS[stage], announcement, lang, count=len(problems), when=_when(announcement, lang))
    )
    items = [problem_item(p, stage, announcement, lang, prefix) for p in problems]
    section = Section(translate("bot.publication.towns", lang), items)
    return paginate(head, [section], lambda: _continued(announcement, lang))


def problem_item(problem: Problem, stage: Stage, announcement: Announcement, lang: str, prefix: str) -> Rich:
    """``Pantin · Mastodon — reason``, then what to do, addressed to the town's officers."""
    item = Rich().strong(problem.town)
    if problem.platform is not None:
        item.text(" · " + _network(problem.platform))
    if problem.url:
        item.text(" (").link(problem.url, translate("bot.publication.post", lang)).text(")")
    item.text(" — " + reason(problem.failure, lang)).line()
    reconnect = problem.failure is not None and problem.failure.reconnect
    advice = translate(_advice(problem, stage, reconnect), lang, prefix=prefix, when=_when(announcement, lang))
    item.text(f"→ {advice} — ")
    for position, officer in enumerate(problem.officers):
        item.text(", " if position else "").mention(officer)
    if not problem.officers:
        item.text(translate("bot.remind.no_officer", lang, prefix=prefix))
    return item


def _advice(problem: Problem, stage: Stage, reconnect: bool) -> str:
    """What to do: a follow-up's or a pin's failure (the post itself went out) has its own advice."""
    part = problem.failure.params.get("part") if problem.failure is not None else None
    if problem.failure is not None and problem.failure.key.startswith(EARLY):
        # Told, not to be fixed: the post is made at the instant (or the early one, kept, stands for it).
        return "bot.publication.advice.early" + problem.failure.key.removeprefix(EARLY)
    if stage is Stage.PUBLISH and problem.failure is not None and problem.failure.params.get("staged") == "yes":
        # Handed to its server ahead: it may be online although its confirmation failed.
        return "bot.publication.advice.staged" + (".reconnect" if reconnect else "")
    if stage is Stage.PUBLISH and part in ("followup", "pin"):
        return f"bot.publication.advice.{part}" + (".reconnect" if reconnect else "")
    return _ADVICE[(stage, reconnect)]


def reason(failure: Failure | None, lang: str) -> str:
    """Why a post failed, in ``lang``."""
    if failure is None:
        return translate("bot.publication.reason.unknown", lang)
    return translate(failure.key, lang, **failure.params)


# --- after an outage -----------------------------------------------------------------------------------------


def overdue_question(
    announcement: Announcement,
    progress: Progress,
    coordinators: Sequence[str],
    lang: str,
    prefix: str,
    prestaged: int = 0,
) -> Reply:
    """Asks the coordinators what to do with an announcement whose instant passed while nothing could publish;
    ``prestaged`` Mastodon posts were handed to their servers ahead, which published them at the instant."""
    rich = Rich().strong(_about("bot.publication.overdue", announcement, lang, when=_when(announcement, lang)))
    if prestaged:
        told = _about("bot.publication.overdue.prestaged", announcement, lang, count=prestaged, prefix=prefix)
        rich.line().text(told)
    if progress.published:
        rich.line().text(
            _about(
                "bot.publication.overdue.partial",
                announcement,
                lang,
                published=progress.published,
                total=progress.total,
            )
        )
    rich.line()
    for position, coordinator in enumerate(coordinators):
        rich.text(", " if position else "").mention(coordinator)
    if not coordinators:
        rich.text(translate("bot.publication.overdue.nobody", lang))
    rich.text(translate("bot.publication.overdue.ask", lang))
    keys = ("bot.publication.overdue.publish", "bot.publication.overdue.cancel", "bot.publication.overdue.reschedule")
    return rich.items(Rich().text(_about(k, announcement, lang, prefix=prefix)) for k in keys).build()


# --- recaps --------------------------------------------------------------------------------------------------


def publication_recap(
    announcement: Announcement,
    outcomes: Sequence[Outcome],
    officers: Mapping[int, Sequence[str]],
    lang: str,
    prefix: str,
    page: str | None = None,
) -> list[Reply]:
    """Every post's link by town and network, then the failed ones with their officers and what to do; the
    public page's link (``page``) under the count."""
    tally = posted_tally(outcomes)
    towns = len({o.town.id for o in outcomes if o.delivery.remote_id is not None})
    key = "bot.publication.recap.partial" if tally.failed else "bot.publication.recap.done"
    head = Rich().strong(
        _about(key, announcement, lang, succeeded=tally.succeeded, total=tally.total, towns=towns, failed=tally.failed)
    )
    add_public_page(head, page, lang)
    posts = [_town_posts(town, mine, lang) for town, mine in _by_town(outcomes)]
    failed = [
        problem_item(_problem(o, officers), Stage.PUBLISH, announcement, lang, prefix)
        for o in outcomes
        if o.delivery.state is DeliveryState.FAILED and o.delivery.remote_id is None
    ]
    sections = [
        Section(translate("bot.publication.recap.posts", lang), posts),
        Section(translate("bot.publication.recap.failures", lang), failed),
    ]
    return paginate(head, sections, lambda: _continued(announcement, lang))


def retraction_recap(
    announcement: Announcement,
    outcomes: Sequence[Outcome],
    officers: Mapping[int, Sequence[str]],
    lang: str,
    prefix: str,
) -> list[Reply]:
    """How many posts were deleted, by town, then those still online with their officers and what to do."""
    tally = retraction_tally(outcomes)
    posted = [o for o in outcomes if o.delivery.remote_id is not None]
    towns = len({o.town.id for o in posted})
    key = "bot.publication.retraction.recap.partial" if tally.failed else "bot.publication.retraction.recap.done"
    head = Rich().strong(
        _about(key, announcement, lang, succeeded=tally.succeeded, total=tally.total, towns=towns, failed=tally.failed)
    )
    deleted = [o for o in posted if o.delivery.state is DeliveryState.RETRACTED]
    lines = [
        Rich().strong(town.name).text(" — " + ", ".join(_network(o.delivery.platform) for o in mine))
        for town, mine in _by_town(deleted)
    ]
    online = [
        problem_item(_problem(o, officers), Stage.DELETE, announcement, lang, prefix)
        for o in posted
        if o.delivery.state is DeliveryState.FAILED
    ]
    sections = [
        Section(translate("bot.publication.retraction.recap.deleted", lang), lines),
        Section(translate("bot.publication.retraction.recap.failures", lang), online),
    ]
    return paginate(head, sections, lambda: _continued(announcement, lang))


def _town_posts(town: Town, outcomes: Sequence[Outcome], lang: str) -> Rich:
    """``Pantin — Bluesky https://… (suite https://…) · Mastodon : en échec``."""
    line = Rich().strong(town.name).text(" — ")
    for position, outcome in enumerate(outcomes):
        delivery = outcome.delivery
        network = _network(delivery.platform)
        line.text(" · " if position else "")
        if delivery.remote_id is not None and delivery.remote_url:
            line.link(delivery.remote_url, network)
        elif delivery.remote_id is not None:
            line.text(translate("bot.publication.recap.no_link", lang, network=network))
        elif delivery.state is DeliveryState.FAILED:
            line.text(translate("bot.publication.recap.failed", lang, network=network))
        else:
            line.text(translate("bot.publication.recap.missing", lang, network=network))
        _followup(line, outcome.followup, lang)
        if outcome.pin is not None and outcome.pin.state is DeliveryState.FAILED:
            line.text(" " + translate("bot.publication.recap.pin_failed", lang))
    return line


def _followup(line: Rich, followup: Delivery | None, lang: str) -> None:
    """The follow-up's link after its post's, or that it failed."""
    if followup is None:
        return
    if followup.remote_id is not None and followup.remote_url:
        line.text(" (").link(followup.remote_url, translate("bot.publication.recap.followup", lang)).text(")")
    elif followup.state is DeliveryState.FAILED:
        line.text(" " + translate("bot.publication.recap.followup_failed", lang))


def _by_town(outcomes: Iterable[Outcome]) -> list[tuple[Town, list[Outcome]]]:
    """The outcomes grouped by town, in the order the towns first appear; cancelled posts left out."""
    towns: dict[int, tuple[Town, list[Outcome]]] = {}
    for outcome in outcomes:
        if outcome.delivery.state is not DeliveryState.CANCELLED:
            towns.setdefault(outcome.town.id, (outcome.town, []))[1].append(outcome)
    return list(towns.values())


def _problem(outcome: Outcome, officers: Mapping[int, Sequence[str]]) -> Problem:
    delivery = outcome.delivery
    url = delivery.remote_url if delivery.remote_id is not None else None
    return Problem(outcome.town.name, delivery.platform, delivery.error, officers.get(outcome.town.id, ()), url)


def _network(platform: Platform) -> str:
    return platform.value.capitalize()


def _continued(announcement: Announcement, lang: str) -> Rich:
    return Rich().strong(_about("bot.publication.continued", announcement, lang))


def _when(announcement: Announcement, lang: str) -> str:
    if announcement.publish_at is None:
        return translate("bot.announce.not_scheduled", lang)
    return format_instant(announcement.publish_at, announcement.timezone, lang)


def _about(key: str, announcement: Announcement, lang: str, **params: object) -> str:
    """A message about ``announcement``, with its number and title filled in."""
    return translate(key, lang, id=str(announcement.id), title=announcement.title, **params)
