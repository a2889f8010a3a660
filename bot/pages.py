"""Links from the room to the web pages (``UNISSON_PUBLIC_URL``): the card, the recap and ``!etat`` show them.

Without the setting the room shows no link: the bot cannot know at which address people reach the hub. The
coalition's starter packs are on Bluesky and always linked (the card and the recap).
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.render import Rich
from hub.domain.model import Announcement
from hub.i18n import translate
from hub.services.campaign_pages import PUBLISHED
from hub.services.starter_packs import PackLink
from hub.settings import Settings
from hub.urls import absolute, public_path


def public_page(settings: Settings, announcement: Announcement) -> str | None:
    """The address of the announcement's public page, once it is published (it answers 404 before, unless a
    coordinator opened it early with ``!lien N public``, which answers the address itself)."""
    if announcement.state not in PUBLISHED:
        return None
    return absolute(settings, public_path(announcement.coalition_id, announcement.id))


def add_public_page(rich: Rich, page: str | None, lang: str) -> Rich:
    """A line with the public page's link, if there is one to show."""
    if page is not None:
        if not rich.ends_with_list():
            rich.line()
        rich.link(page, translate("bot.links.page", lang))
    return rich


def add_status_links(rich: Rich, settings: Settings, announcement: Announcement, lang: str, table: str | None) -> Rich:
    """Under ``!etat``: the public page, and for a coordinator (``table``: the prefix) how to get the full table."""
    if settings.public_url is None:
        return rich
    add_public_page(rich, public_page(settings, announcement), lang)
    if table is not None:
        rich.line().text(translate("bot.links.status.table", lang, prefix=table, id=str(announcement.id)))
    return rich


def add_packs(rich: Rich, packs: Sequence[PackLink], coalition: str, lang: str) -> Rich:
    """A line linking every starter pack of the coalition, each named by its towns' région (by the coalition's
    name when it has a single pack)."""
    if not packs:
        return rich
    if not rich.ends_with_list() and not rich.is_empty():
        rich.line()
    rich.text(translate("reach.packs", lang) + " ")
    for n, pack in enumerate(packs):
        if n:
            rich.text(", ")
        rich.link(pack.url, pack.label or coalition)
    return rich
