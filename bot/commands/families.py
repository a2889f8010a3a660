"""Every command family, gathered in the order of the help."""

from __future__ import annotations

from bot.commands import accounts, admin, basic, links, publication, reach, towns
from bot.commands.announcements import drafting, prestaging, quorum, scheduling, signing, status, thread
from bot.registry import Registry


def default_registry() -> Registry:
    """Every command the bot answers to."""
    families = (
        basic,
        drafting,
        thread,
        prestaging,
        scheduling,
        quorum,
        status,
        signing,
        links,
        publication,
        admin,
        accounts,
        reach,
    )
    declared = Registry.from_modules(*families)
    # ``!villes`` lists the towns as declared in admin, and also imports and invites: the towns family answers for
    # the three, in the listing's place.
    return Registry(towns.towns if found is admin.towns else found for found in declared)
