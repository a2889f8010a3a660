"""Setting up a coalition from its room: bind the room, appoint people, add towns, fill in their profiles.

Admins bind a room to a new coalition and appoint its coordinators; coordinators add towns (by official code,
or by the name of a town the hub already knows), appoint each town's officers and fill in the profile fields
the templates use. The services check who may do what; these handlers only read the words and word the answers.
"""

from __future__ import annotations

from bot.context import Request
from bot.registry import Argument, Arguments, Audience, command
from bot.render import Reply, Rich
from hub.domain.model import PROFILE_FIELDS, Coalition, Town, TownKind
from hub.errors import InvalidInput, NotFound
from hub.i18n import translate
from hub.reference import normalize
from hub.reference.codes import FORMATS
from hub.services.onboarding import OnboardingService, RosterEntry

#: What people type for each profile field (French first), and the field it fills.
FIELD_WORDS: dict[str, str] = {
    "site": "website",
    "website": "website",
    "newsletter": "newsletter",
    "lettre": "newsletter",
    "bluesky": "bluesky",
    "mastodon": "mastodon",
}
#: A value that clears a profile field.
CLEAR = "-"
KIND_WORDS: dict[str, TownKind] = {
    "commune": TownKind.COMMUNE,
    "epci": TownKind.EPCI,
    "departement": TownKind.DEPARTEMENT,
    "département": TownKind.DEPARTEMENT,
    "department": TownKind.DEPARTEMENT,
    "region": TownKind.REGION,
    "région": TownKind.REGION,
}
_ADD = ("ajouter", "add")
_REMOVE = ("retirer", "remove")


def _coalition(request: Request) -> Coalition:
    if request.coalition is None:
        raise InvalidInput("bot.admin.no_coalition", prefix=request.prefix)
    return request.coalition


def _split_last(text: str, count: int, usage_key: str, request: Request) -> tuple[str, list[str]]:
    """``"Le Pré-Saint-Gervais site https://x"`` → the town, then the last ``count`` words."""
    words = text.split()
    if len(words) <= count:
        raise InvalidInput(usage_key, prefix=request.prefix)
    return " ".join(words[:-count]), words[-count:]


@command(
    "coalition",
    arguments=(Argument("admin.name", rest=True),),
    audience=Audience.ADMIN,
    summary="bot.admin.help.coalition",
    details="bot.admin.help.coalition.details",
)
async def create_coalition(request: Request, args: Arguments) -> Reply:
    """Binds the current room to a new coalition."""
    coalition = await request.hub.coalitions.create(
        request.sender, args.text("admin.name"), request.room_id, language=request.lang
    )
    return Reply.text(
        translate("bot.admin.coalition.created", request.lang, name=coalition.name, prefix=request.prefix)
    )


@command(
    "coordinateur",
    english="coordinator",
    arguments=(Argument("admin.user"),),
    audience=Audience.ADMIN,
    summary="bot.admin.help.coordinateur",
)
async def appoint_coordinator(request: Request, args: Arguments) -> Reply:
    """Makes someone a coordinator of this room's coalition."""
    coalition = _coalition(request)
    user = args.text("admin.user")
    added = await request.hub.coalitions.appoint_coordinator(request.sender, coalition.id, user)
    key = "bot.admin.coordinator.added" if added else "bot.admin.coordinator.already"
    rich = (
        Rich().mention(user).text(" " + translate(key, request.lang, coalition=coalition.name, prefix=request.prefix))
    )
    return rich.build()


@command(
    "ville",
    english="town",
    arguments=(Argument("admin.action", choices=(*_ADD, *_REMOVE)), Argument("admin.town", rest=True)),
    audience=Audience.COORDINATOR,
    summary="bot.admin.help.ville",
    details="bot.admin.help.ville.details",
)
async def town(request: Request, args: Arguments) -> Reply:
    """Adds a town to the coalition (by official code, or by name if the hub knows it) or removes one."""
    coalition = _coalition(request)
    text = args.text("admin.town")
    if args.text("admin.action") in _REMOVE:
        found = await request.hub.towns.find(text, coalition.id)
        await request.hub.coalitions.remove_town(request.sender, coalition.id, found.id)
        return Reply.text(translate("bot.admin.town.removed", request.lang, town=found.name, coalition=coalition.name))
    kind, code = _kind_and_code(text)
    if code is not None:
        added = await OnboardingService(request.hub).add_town(request.sender, coalition.id, code, kind)
        return _added_reply(request, coalition, added.town, added.joined)
    known = await _known_town(request, text)
    joined = await request.hub.coalitions.add_towns(request.sender, coalition.id, [known.id]) > 0
    return _added_reply(request, coalition, known, joined)


def _kind_and_code(text: str) -> tuple[TownKind, str | None]:
    """``"93055"`` → a commune code; ``"epci 200054781"`` → an EPCI's; ``"Pantin"`` → no code (a name)."""
    first, _, rest = text.partition(" ")
    if (kind := KIND_WORDS.get(first.casefold())) is not None and rest.strip():
        return kind, rest.strip()
    code = normalize(text)
    if FORMATS[TownKind.EPCI].fullmatch(code):
        return TownKind.EPCI, code
    # Anything with a digit is meant as a code: a mistyped one gets the nearest codes, not "unknown name".
    if any(c.isdigit() for c in code) and " " not in text.strip():
        return TownKind.COMMUNE, code
    return TownKind.COMMUNE, None


async def _known_town(request: Request, name: str) -> Town:
    try:
        return await request.hub.towns.find(name)
    except NotFound:
        raise NotFound("bot.admin.town.unknown_name", text=name, prefix=request.prefix) from None


def _added_reply(request: Request, coalition: Coalition, added: Town, joined: bool) -> Reply:
    key = "bot.admin.town.added" if joined else "bot.admin.town.already"
    label = f"{added.name} ({added.code})" if added.code else added.name
    return Reply.text(
        translate(key, request.lang, town=label, coalition=coalition.name, name=added.name, prefix=request.prefix)
    )


@command(
    "referent",
    english="officer",
    aliases=("référent",),
    arguments=(Argument("admin.town_user", rest=True),),
    audience=Audience.COORDINATOR,
    summary="bot.admin.help.referent",
    details="bot.admin.help.referent.details",
)
async def appoint_officer(request: Request, args: Arguments) -> Reply:
    """Makes someone an officer of a member town: ``!referent Le Pré-Saint-Gervais @marie:exemple.fr``."""
    coalition = _coalition(request)
    name, [user] = _split_last(args.text("admin.town_user"), 1, "bot.admin.referent.usage", request)
    found = await request.hub.towns.find(name, coalition.id)
    added = await request.hub.towns.appoint_officer(request.sender, found.id, user)
    key = "bot.admin.officer.added" if added else "bot.admin.officer.already"
    return Rich().mention(user).text(" " + translate(key, request.lang, town=found.name, prefix=request.prefix)).build()


@command(
    "fiche",
    english="profile",
    arguments=(Argument("admin.town_field", rest=True),),
    audience=Audience.OFFICER,
    summary="bot.admin.help.fiche",
    details="bot.admin.help.fiche.details",
)
async def profile(request: Request, args: Arguments) -> Reply:
    """Sets (or clears, with ``-``) a profile field of a member town: ``!fiche Pantin site https://…``."""
    coalition = _coalition(request)
    name, [word, value] = _split_last(args.text("admin.town_field"), 2, "bot.admin.fiche.usage", request)
    field = FIELD_WORDS.get(word.casefold())
    if field is None:
        raise InvalidInput("bot.admin.fiche.field", field=word, allowed=", ".join(_field_words()))
    found = await request.hub.towns.find(name, coalition.id)
    updated = await request.hub.towns.set_profile(request.sender, found.id, field, "" if value == CLEAR else value)
    if field not in updated.profile:
        return Reply.text(translate("bot.admin.fiche.cleared", request.lang, town=updated.name, field=word))
    shown = updated.profile[field]
    return Reply.text(translate("bot.admin.fiche.set", request.lang, town=updated.name, field=word, value=shown))


def _field_words() -> list[str]:
    firsts: dict[str, str] = {}
    for word, field in FIELD_WORDS.items():
        firsts.setdefault(field, word)
    return [firsts[f] for f in PROFILE_FIELDS]


@command(
    "villes",
    english="towns",
    audience=Audience.ANYONE,
    summary="bot.admin.help.villes",
)
async def towns(request: Request, args: Arguments) -> Reply:
    """The coalition's towns, with their officers and linked networks."""
    coalition = _coalition(request)
    roster = await OnboardingService(request.hub).roster(coalition.id)
    if not roster:
        return Reply.text(
            translate("bot.admin.towns.empty", request.lang, coalition=coalition.name, prefix=request.prefix)
        )
    heading = translate("bot.admin.towns.heading", request.lang, coalition=coalition.name, count=len(roster))
    return Rich().strong(heading).items(_roster_line(entry, request.lang) for entry in roster).build()


def _roster_line(entry: RosterEntry, lang: str) -> Rich:
    # Officers are named, not mentioned: listing the towns must not notify everyone in them.
    rich = Rich().strong(entry.town.name).text(f" ({entry.town.code})" if entry.town.code else "").text(" — ")
    if entry.officers:
        rich.text(translate("bot.admin.towns.officers", lang, officers=", ".join(entry.officers)))
    else:
        rich.text(translate("bot.admin.towns.no_officer", lang))
    networks = ", ".join(p.value.capitalize() for p in entry.platforms)
    linked = translate("bot.admin.towns.linked", lang, networks=networks) if networks else None
    return rich.text(" — " + (linked or translate("bot.admin.towns.not_linked", lang)))
