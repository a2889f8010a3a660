"""Where the web pages live: the one place that builds their paths (the services, the web app, the bot and the
demo link to them)."""

from __future__ import annotations

from hub.settings import Settings

#: Prefix of the coordinators' status pages (followed by the link's token).
STATUS_PREFIX = "/s"
#: Prefix of the public pages of a coalition and its announcements.
PUBLIC_PREFIX = "/c"
STATIC_PREFIX = "/static"
#: Where a Mastodon server sends an officer back after they approved Unisson (with the code and the state).
OAUTH_CALLBACK_PATH = "/oauth/mastodon"


def status_path(token: str) -> str:
    """The coordinators' status page of the announcement the token opens."""
    return f"{STATUS_PREFIX}/{token}"


def status_csv_path(token: str) -> str:
    """The status table as a CSV file."""
    return f"{status_path(token)}/villes.csv"


def coalition_path(coalition_id: int) -> str:
    """The public page of a coalition: its public announcements."""
    return f"{PUBLIC_PREFIX}/{coalition_id}"


def public_path(coalition_id: int, number: int) -> str:
    """The public campaign page of announcement ``number`` (a permanent URL)."""
    return f"{coalition_path(coalition_id)}/{number}"


def feed_path(coalition_id: int) -> str:
    """The Atom feed of a coalition's published announcements."""
    return f"{coalition_path(coalition_id)}/annonces.atom"


def absolute(settings: Settings, path: str) -> str | None:
    """``path`` under ``UNISSON_PUBLIC_URL``; None when the setting is unset (the room then shows no link)."""
    if not settings.public_url:
        return None
    return settings.public_url.rstrip("/") + path
