"""A coalition's Atom feed of its published announcements, for feed readers and newsletters (feedgen)."""

from __future__ import annotations

import re

from feedgen.feed import FeedGenerator

from hub.services.campaign_pages import CoalitionPage, readable
from hub.urls import coalition_path, feed_path, public_path
from hub.web.render import Words

#: Characters XML 1.0 cannot hold (a title typed with one would break the whole feed).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
ATOM = "application/atom+xml; charset=utf-8"


def _xml(text: str) -> str:
    return _NOT_XML.sub("", text)


def atom(page: CoalitionPage, base: str, words: Words) -> bytes:
    """The feed of ``page``'s published announcements; ``base`` is the site's address (no trailing slash)."""
    coalition = page.coalition
    feed = FeedGenerator()
    feed.id(base + feed_path(coalition.id))
    feed.title(_xml(words.t("web.feed.title", coalition=coalition.name)))
    feed.subtitle(_xml(words.t("web.feed.subtitle", coalition=coalition.name)))
    feed.author({"name": _xml(coalition.name)})
    feed.link(href=base + coalition_path(coalition.id), rel="alternate", type="text/html")
    feed.link(href=base + feed_path(coalition.id), rel="self", type="application/atom+xml")
    feed.language(words.lang)
    feed.generator("Unisson")
    entries = page.in_feed
    for announcement in reversed(entries):  # feedgen puts the last added first
        when = announcement.publish_at or announcement.created_at
        version = announcement.current_version
        entry = feed.add_entry()
        entry.id(base + public_path(coalition.id, announcement.id))
        entry.title(_xml(announcement.title))
        entry.link(href=base + public_path(coalition.id, announcement.id), rel="alternate", type="text/html")
        entry.published(when)
        entry.updated(when)
        entry.content(_xml(readable(version.wording.text) if version else ""), type="text")
    # A coalition page always has an announcement (else it answers 404), if not yet one in the feed.
    feed.updated(max(a.publish_at or a.created_at for a in entries or page.announcements))
    return bytes(feed.atom_str(pretty=True))
